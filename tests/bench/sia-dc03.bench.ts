import { parseSiaData } from '../../src/codecs/sia-dc03.js';

/** Data blocks from the golden vectors: short DC-09 blocks, a level-3 block with text, a two-event block. */
const SAMPLES: readonly string[] = [
  '#AAA|Nri0/RP0000',
  '|Nri1/CL501',
  '#123456|Nri1CL0^VX FRONTE ^',
  '#1234|Nda04-22-94ti16:02:15/id22/CL/PA31',
  '#12345|Nri0000pi0006da10-25-18ti14:37:53UT0000^$PR,SCOMPARSA          ,Centrale,Zona1,ROtTe.6MyLittlPoint^',
  '#1234|NRR|Atest',
];

const BUDGET_MS = 500;

/** parseSiaData throughput over about half a second. */
export async function benchSiaDc03(): Promise<Array<{ name: string; value: number; unit: string }>> {
  let blocks = 0;
  let events = 0;
  const start = performance.now();
  let elapsedMs = 0;
  while (elapsedMs < BUDGET_MS) {
    for (const sample of SAMPLES) {
      const result = parseSiaData(sample);
      if (!result.ok) throw new Error(`bench sample no longer parses: ${result.error.message}`);
      blocks++;
      events += result.value.events.length;
    }
    elapsedMs = performance.now() - start;
  }
  const seconds = elapsedMs / 1000;
  return [
    { name: 'sia-dc03 parseSiaData', value: Math.round(blocks / seconds), unit: 'blocks/s' },
    { name: 'sia-dc03 events decoded', value: Math.round(events / seconds), unit: 'events/s' },
  ];
}
