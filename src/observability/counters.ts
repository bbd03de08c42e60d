/** Named counters with labels; the metrics endpoint and the logs read them. */
export type Labels = Readonly<Record<string, string>>;

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
}

export class Counters {
  private readonly values = new Map<string, CounterSample>();
  private readonly listeners: Array<(name: string, labels: Labels, by: number) => void> = [];

  inc(name: string, labels: Labels = {}, by = 1): void {
    const key = name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
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
