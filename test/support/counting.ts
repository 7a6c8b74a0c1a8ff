// Counts calls to an object's methods while still running them: a window on
// what a request did to a repository (how many reads), without replacing
// anything. The object is changed in place; `restore` puts it back.
export interface CallCounts<K extends string> {
  readonly calls: Record<K, number>;
  reset(): void;
  restore(): void;
}

export function countCalls<T extends object, K extends keyof T & string>(target: T, methods: readonly K[]): CallCounts<K> {
  const originals = new Map<K, T[K]>();
  const calls = {} as Record<K, number>;
  for (const name of methods) {
    const original = target[name];
    if (typeof original !== 'function') throw new Error(`${name} is not a method`);
    originals.set(name, original);
    calls[name] = 0;
    target[name] = ((...args: unknown[]) => {
      calls[name] += 1;
      return (original as (...a: unknown[]) => unknown).apply(target, args);
    }) as T[K];
  }
  return {
    calls,
    reset() {
      for (const name of methods) calls[name] = 0;
    },
    restore() {
      for (const [name, original] of originals) target[name] = original;
    },
  };
}
