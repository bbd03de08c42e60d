/** Named counters with labels; the metrics endpoint and the logs read them. */
export type Labels = Readonly<Record<string, string>>;

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
}

/**
 * One string per name and label set, whatever order the labels were written in. Lengths prefix each part, so
 * no name or value can run into the next; label names are sorted only when a call site lists them unsorted.
 */
function sampleKey(name: string, labels: Labels): string {
  let names = Object.keys(labels);
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1]! > names[i]!) {
      names = names.sort();
      break;
    }
  }
  let key = `${name.length}:${name}`;
  for (const label of names) {
    const value = labels[label]!;
    key += `${label.length}:${label}${value.length}:${value}`;
  }
  return key;
}

export class Counters {
  private readonly values = new Map<string, CounterSample>();
  private readonly listeners: Array<(name: string, labels: Labels, by: number) => void> = [];

  inc(name: string, labels: Labels = {}, by = 1): void {
    const key = sampleKey(name, labels);
    const sample = this.values.get(key);
    if (sample === undefined) this.values.set(key, { name, labels, value: by });
    else sample.value += by;
    for (const listener of this.listeners) listener(name, labels, by);
  }

  get(name: string, labels: Labels = {}): number {
    let total = 0;
    for (const s of this.values.values())
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    return total;
  }

  snapshot(): CounterSample[] {
    return [...this.values.values()].map((s) => ({ ...s }));
  }

  /** Mirrors every increment elsewhere (e.g. prom-client). */
  onIncrement(listener: (name: string, labels: Labels, by: number) => void): void {
    this.listeners.push(listener);
  }
}
