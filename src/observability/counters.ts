/** Named counters with labels; the metrics endpoint and the logs read them. */
export type Labels = Readonly<Record<string, string>>;

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
}

function sameLabels(a: Labels, b: Labels): boolean {
  let count = 0;
  for (const label in a) {
    if (a[label] !== b[label]) return false;
    count += 1;
  }
  for (const _ in b) count -= 1;
  return count === 0;
}

const NO_LABELS: Labels = Object.freeze({});

/**
 * Where a name's labels, in the order one call site writes them, lead: the sample of exactly these labels, and
 * the nodes of longer label lists. Counters are bumped several times a frame; following a few Map lookups by the
 * label names and values as given costs neither a string built nor a hash of the text.
 */
interface LabelNode {
  sample: CounterSample | undefined;
  next: Map<string, Map<string, LabelNode>> | undefined;
}

function labelNode(): LabelNode {
  return { sample: undefined, next: undefined };
}

export class Counters {
  /** Per name, the label tree. A label set written in another order has its own path to the same sample. */
  private readonly roots = new Map<string, LabelNode>();
  /** Every sample, in creation order. */
  private readonly values: CounterSample[] = [];
  private readonly listeners: Array<(name: string, labels: Labels, by: number) => void> = [];

  inc(name: string, labels: Labels = NO_LABELS, by = 1): void {
    this.sampleOf(name, labels).value += by;
    for (const listener of this.listeners) listener(name, labels, by);
  }

  get(name: string, labels: Labels = {}): number {
    let total = 0;
    for (const s of this.values)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    return total;
  }

  snapshot(): CounterSample[] {
    return this.values.map((s) => ({ ...s }));
  }

  /** Mirrors every increment elsewhere (e.g. prom-client). */
  onIncrement(listener: (name: string, labels: Labels, by: number) => void): void {
    this.listeners.push(listener);
  }

  private sampleOf(name: string, labels: Labels): CounterSample {
    let node = this.roots.get(name);
    if (node === undefined) this.roots.set(name, (node = labelNode()));
    for (const label in labels) {
      const value = labels[label]!;
      node.next ??= new Map();
      let byValue = node.next.get(label);
      if (byValue === undefined) node.next.set(label, (byValue = new Map()));
      let child = byValue.get(value);
      if (child === undefined) byValue.set(value, (child = labelNode()));
      node = child;
    }
    // First time this path is taken: the same labels written in another order may have a sample already.
    node.sample ??= this.values.find((s) => s.name === name && sameLabels(s.labels, labels)) ?? this.created(name, labels);
    return node.sample;
  }

  private created(name: string, labels: Labels): CounterSample {
    const sample = { name, labels: { ...labels }, value: 0 };
    this.values.push(sample);
    return sample;
  }
}
