/** Named counters with labels; the metrics endpoint and the logs read them. */
export type Labels = Readonly<Record<string, string>>;

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
}

/** FNV-1a of a string, continuing from `hash`. */
function fnv(hash: number, text: string): number {
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}

/**
 * Hash of a name and label set that ignores the order labels are written in (each pair is hashed on its own and
 * the pairs are summed), computed without building strings: counters are bumped on every frame. Equal hashes are
 * confirmed by comparing the labels.
 */
function sampleHash(name: string, labels: Labels): number {
  let hash = fnv(0x811c9dc5, name);
  for (const label in labels) {
    // The separator keeps a pair's name and value from running into each other ("a"+"bc" vs "ab"+"c").
    hash = (hash + fnv(fnv(fnv(0x050c5d1f, label), '\u0000'), labels[label]!)) | 0;
  }
  return hash;
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

export class Counters {
  /** Samples by sampleHash; a bucket holds more than one only when hashes collide. In creation order overall. */
  private readonly buckets = new Map<number, CounterSample[]>();
  private readonly values: CounterSample[] = [];
  private readonly listeners: Array<(name: string, labels: Labels, by: number) => void> = [];

  inc(name: string, labels: Labels = {}, by = 1): void {
    const hash = sampleHash(name, labels);
    const bucket = this.buckets.get(hash);
    let sample: CounterSample | undefined;
    for (const candidate of bucket ?? []) {
      if (candidate.name === name && sameLabels(candidate.labels, labels)) sample = candidate;
    }
    if (sample !== undefined) sample.value += by;
    else {
      const created = { name, labels: { ...labels }, value: by };
      this.values.push(created);
      if (bucket === undefined) this.buckets.set(hash, [created]);
      else bucket.push(created);
    }
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
}
