/**
 * The freeze watchdog (see stalls.ts): runs on its own thread, so it keeps time while a job
 * blocks the main thread. Marks each running job once per freeze and says so on stderr (the
 * main thread's logger is frozen with it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRedis } from './connection.ts';
import { MARK_FREEZE } from './stalls.ts';

type Message = { type: 'beat' } | { type: 'start'; key: string; label: string } | { type: 'end'; key: string };

const { redisUrl, freezeMs, beatMs } = workerData as { redisUrl: string; freezeMs: number; beatMs: number };
const redis = createRedis(redisUrl, 'worker');
redis.on('error', () => undefined);
const running = new Map<string, { label: string; marked: boolean }>();
let lastBeat = Date.now();

parentPort?.on('message', (message: Message) => {
  if (message.type === 'beat') {
    lastBeat = Date.now();
    for (const job of running.values()) job.marked = false;
  } else if (message.type === 'start') running.set(message.key, { label: message.label, marked: false });
  else running.delete(message.key);
});

setInterval(() => {
  const frozenMs = Date.now() - lastBeat;
  if (frozenMs < freezeMs) return;
  for (const [key, job] of running) {
    if (job.marked) continue;
    job.marked = true;
    redis.eval(MARK_FREEZE, 1, key).then(
      (freezes) => process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), job: job.label, frozen_ms: frozenMs, freezes, msg: 'event loop frozen while this job ran: counted against it (a poison input fails after repeated freezes)' })}\n`),
      (err: unknown) => process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), job: job.label, msg: `could not mark a freeze: ${String(err)}` })}\n`),
    );
  }
}, beatMs);
