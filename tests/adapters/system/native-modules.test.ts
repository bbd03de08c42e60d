import { describe, expect, it } from 'vitest';
import { settingsSchema } from '../../../src/settings/settings.js';
import { INSTALL_WITH_NATIVE_BUILDS, NATIVE_MODULES, NativeModuleError, unloadableNativeModule, type NativeModule } from '../../../adapters/system/native-modules.js';

const dc09Only = settingsSchema.parse({ inputs: [{ type: 'dc09', name: 'ip', port: 12000 }], outputs: [{ type: 'stdout', name: 'out' }] });
const withSerial = settingsSchema.parse({
  inputs: [{ type: 'serial', name: 'receiver', path: '/dev/ttyUSB0', protocol: 'surgard' }],
  outputs: [{ type: 'stdout', name: 'out' }],
});

// What `bindings` throws when npm skipped better-sqlite3's build (npm 12's default for dependency install scripts).
const unbuilt = (module: string) => new Error(`Could not locate the bindings file. Tried:\n → /usr/lib/node_modules/panelbridge/node_modules/${module}/build/better_sqlite3.node`);

describe('native modules an installation must have built', () => {
  it('all load in this checkout', async () => {
    expect(await unloadableNativeModule(withSerial)).toBeUndefined();
  });

  it('an unbuilt SQLite module is named, with the install command that builds it, not blamed on dataDir', async () => {
    const failing = async (module: NativeModule) => {
      if (module === 'better-sqlite3') throw unbuilt(module);
    };
    const error = await unloadableNativeModule(dc09Only, failing);
    expect(error).toBeInstanceOf(NativeModuleError);
    expect(error!.module).toBe('better-sqlite3');
    expect(error!.message).toContain('the native module better-sqlite3 cannot be loaded (Could not locate the bindings file. Tried:)');
    expect(error!.message).toContain(INSTALL_WITH_NATIVE_BUILDS);
    expect(error!.message).not.toMatch(/dataDir/);
    for (const module of NATIVE_MODULES) expect(INSTALL_WITH_NATIVE_BUILDS).toContain(module);
  });

  it('loads the serial bindings only for a configuration with a serial input', async () => {
    const loaded: NativeModule[] = [];
    const failingSerial = async (module: NativeModule) => {
      loaded.push(module);
      if (module === '@serialport/bindings-cpp') throw new Error('No native build was found for platform=linux arch=riscv64 runtime=node abi=115');
    };
    expect(await unloadableNativeModule(dc09Only, failingSerial)).toBeUndefined();
    expect(loaded).toEqual(['better-sqlite3']);
    const error = await unloadableNativeModule(withSerial, failingSerial);
    expect(error?.module).toBe('@serialport/bindings-cpp');
    expect(error?.message).toMatch(/^the native module @serialport\/bindings-cpp cannot be loaded \(No native build was found/);
  });
});
