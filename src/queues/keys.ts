/**
 * The one way to name a Redis key the project makes outside BullMQ (locks, leases, marks).
 * Every key lives under the queue prefix, so a test prefix or a demo prefix isolates it and
 * cleanup by prefix removes it; on a cluster the prefix's hash tag puts it in the queues' slot,
 * so a Lua script or MULTI may touch it together with BullMQ's keys.
 */
export function redisKey(prefix: string, ...parts: string[]): string {
  if (!parts.length) throw new Error('redisKey: give at least one part after the prefix');
  for (const part of parts) {
    if (part === '') throw new Error('redisKey: empty key part');
  }
  return `${prefix}:${parts.join(':')}`;
}
