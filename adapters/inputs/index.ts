import type { InputSettings } from '../../src/settings/settings.js';
import type { InputContext, InputCreated } from './input.js';

type SettingsOf<T extends InputSettings['type']> = Extract<InputSettings, { type: T }>;

interface InputType<T extends InputSettings['type']> {
  /** How start-up failures name the input: `DC-09 input "panels" on 0.0.0.0:12000`. */
  label: string;
  create(settings: SettingsOf<T>, context: InputContext): Promise<InputCreated>;
}

/**
 * Every input type, by its `type` in the configuration. Each module is imported only when an input of its type is
 * configured: serialport and the XML parser cost memory every other gateway would carry. A new input type is one
 * entry here, its module in adapters/inputs/, its receiver in src/pipeline/ and its schema in settings.
 */
const INPUT_TYPES: { [T in InputSettings['type']]: InputType<T> } = {
  dc09: {
    label: 'DC-09',
    create: async (settings, context) => (await import('./dc09.js')).createDc09Input(settings, context),
  },
  serial: {
    label: 'serial',
    create: async (settings, context) => ({ ok: true, input: (await import('./serial.js')).createSerialInput(settings, context) }),
  },
  'sia-ip': {
    label: 'SIA over IP',
    create: async (settings, context) => ({ ok: true, input: (await import('./sia-ip.js')).createSiaIpInput(settings, context) }),
  },
  'access-xml': {
    label: 'access-xml',
    create: async (settings, context) => ({ ok: true, input: await (await import('./access-xml.js')).createAccessXmlInput(settings, context) }),
  },
};

/** The input a configured `inputs[]` entry describes, not started yet (nothing is opened). */
export function createInput(settings: InputSettings, context: InputContext): Promise<InputCreated> {
  return inputType(settings).create(settings, context);
}

/** `DC-09 input "panels"`: how the input is named in start-up failures. */
export function describeInput(settings: InputSettings): string {
  return `${inputType(settings).label} input "${settings.name}"`;
}

function inputType(settings: InputSettings): InputType<InputSettings['type']> {
  // The entry under settings.type takes settings of that type; TypeScript cannot follow the lookup.
  return INPUT_TYPES[settings.type] as InputType<InputSettings['type']>;
}
