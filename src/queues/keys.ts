/**
 * The one way to name a Redis key the project makes outside BullMQ (locks, leases, marks).
 * Every key lives under the queue prefix, so a test prefix or a demo prefix isolates it and
 * cleanup by prefix removes it. Keys that a Lua script or MULTI touches together with a queue's
 * keys must be named under that queue's prefix (`queuePrefix`), so they share its cluster slot.
 */
export function redisKey(prefix: string, ...parts: string[]): string {
  if (!parts.length) throw new Error('redisKey: give at least one part after the prefix');
  for (const part of parts) {
    if (part === '') throw new Error('redisKey: empty key part');
  }
  return `${prefix}:${parts.join(':')}`;
}

/**
 * The BullMQ prefix of one queue. BullMQ needs every key of a queue in one cluster slot, but
 * nothing ties two queues together, so a prefix that is one whole hash tag, `{newspulse}`
 * (what a cluster deployment gets from a plain QUEUE_PREFIX), gives each queue its own tag,
 * `{newspulse:ingest}`, `{newspulse:rollup}`: the queues spread over the cluster's masters.
 * Any other prefix is used as written: a plain one on a single node (key names unchanged), or
 * one whose tag is only part of it (`np{newspulse}`), which keeps every queue in one slot.
 */
export function queuePrefix(prefix: string, queue: string): string {
  const whole = /^\{([^{}]+)\}$/.exec(prefix);
  return whole ? `{${whole[1]}:${queue}}` : prefix;
}
