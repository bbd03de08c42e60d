import type { Settings } from '../../src/settings/settings.js';

/** The dependencies with a compiled part: npm builds them at install, by running their install scripts. */
export const NATIVE_MODULES = ['better-sqlite3', '@serialport/bindings-cpp'] as const;
export type NativeModule = (typeof NATIVE_MODULES)[number];

/** How to install so that npm builds them: npm 12 skips dependency install scripts unless allowed, `-g` included. */
export const INSTALL_WITH_NATIVE_BUILDS = `npm install --global --allow-scripts=${NATIVE_MODULES.join(',')} ./panelbridge-<version>.tgz`;

/**
 * A native module that does not load: the installation is incomplete (npm skipped or failed its build, or built it
 * for another Node.js), not a problem of the configuration or of dataDir.
 */
export class NativeModuleError extends Error {
  constructor(
    readonly module: NativeModule,
    cause: unknown,
  ) {
    const why = (cause instanceof Error ? cause.message : String(cause)).split('\n')[0];
    super(
      `the native module ${module} cannot be loaded (${why}): the installation is incomplete (npm 12 skips dependency install scripts unless allowed, ` +
        `or the module was built for another Node.js); reinstall with \`${INSTALL_WITH_NATIVE_BUILDS}\``,
    );
    this.name = 'NativeModuleError';
  }
}

/** Per module: whether a gateway on these settings loads it, and how to load its compiled part. */
const NATIVE: Record<NativeModule, { neededBy(settings: Settings): boolean; load(): Promise<unknown> }> = {
  'better-sqlite3': {
    neededBy: () => true, // the outbox
    // The JavaScript imports without its compiled part; opening a database loads it.
    load: async () => {
      const { default: Database } = await import('better-sqlite3');
      new Database(':memory:').close();
    },
  },
  '@serialport/bindings-cpp': {
    neededBy: (settings) => settings.inputs.some((input) => input.type === 'serial'),
    // Importing it loads the compiled part (node-gyp-build: the package's prebuild, else the local build).
    load: () => import('@serialport/bindings-cpp'),
  },
};

/**
 * The first native module a gateway on these settings needs that does not load, as a NativeModuleError; undefined
 * when all load. `load` stands in for loading one in tests.
 */
export async function unloadableNativeModule(
  settings: Settings,
  load: (module: NativeModule) => Promise<unknown> = (module) => NATIVE[module].load(),
): Promise<NativeModuleError | undefined> {
  for (const module of NATIVE_MODULES.filter((m) => NATIVE[m].neededBy(settings))) {
    try {
      await load(module);
    } catch (error) {
      return new NativeModuleError(module, error);
    }
  }
  return undefined;
}
