/**
 * Everything a fault test starts is registered here as soon as it exists and released in
 * reverse order by `releaseAll()` (afterAll), even when a check failed half-way.
 */
export class Teardown {
  readonly #steps: { name: string; release: () => Promise<unknown> | unknown }[] = [];

  add(name: string, release: () => Promise<unknown> | unknown): void {
    this.#steps.push({ name, release });
  }

  async releaseAll(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve(step.release()), 20_000, step.name);
      } catch (err) {
        failures.push(`${step.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failures.length) console.warn(`[fault] teardown problems: ${failures.join('; ')}`);
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends `signal` to a process group (detached children lead their own), ignoring "already gone". */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
