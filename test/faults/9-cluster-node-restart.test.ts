/**
 * Scenario 9: on a 3-master Redis Cluster, the master that serves the queues' hash slot is
 * stopped for 5 s and started again while two workers run 2 s schedules. The workers are not
 * restarted: they reconnect through the cluster client, schedulers keep firing, and every item
 * served is stored exactly once.
 *
 * Masters have no replicas here and run with AOF on (appendfsync everysec): a restarted master
 * keeps its keys, as a production node with persistence would (with replicas, a failover
 * replaces the restart).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { queuePrefix } from '../../src/queues/keys.ts';
import { eventually } from '../support/processes.ts';
import { startFeedServer, type FeedServer } from './support/feed-server.ts';
import { growingFeed } from './support/feeds.ts';
import { scenario } from './support/report.ts';
import { startStack, type Stack, type WorkerProcess } from './support/stack.ts';
import { sleep } from './support/teardown.ts';

const ORIGIN = new Date();
const SOURCES = ['k-alpha', 'k-beta', 'k-gamma'];
const OUTAGE_MS = 5_000;
const EXTRA_ENV = { FETCH_ALLOW_PRIVATE: 'true' };

describe('fault 9: a Redis Cluster master restarts while workers run', () => {
  let stack: Stack;
  let server: FeedServer;
  let feeds: Map<string, ReturnType<typeof growingFeed>>;

  afterAll(() => stack?.teardown.releaseAll());

  const requests = () => SOURCES.map((id) => server.stats(`/${id}.xml`).requests);
  const allAtLeast = (before: number[], more: number) => requests().every((n, i) => n >= before[i]! + more);

  // The workers run their consumption watchdog (queues/consumption.ts) at its default limit: a
  // Worker that stopped fetching after the restart is replaced within about half a minute, and
  // the worker clients' cluster connect no longer hangs on a failed ready check (connection.ts),
  // so no attempt is repeated: a wedge fails this scenario.
  it('workers resume without a restart, schedules continue, nothing is lost or duplicated', async () => {
    feeds = new Map(SOURCES.map((id) => [id, growingFeed(id, ORIGIN)]));
    stack = await startStack('cluster9', { redisCluster: true });
    server = await startFeedServer(stack.teardown);
    for (const [id, feed] of feeds) server.route(`/${id}.xml`, feed.handler);
    stack.writeSources({ sources: SOURCES.map((id) => ({ id, kind: 'feed', url: server.url(`/${id}.xml`), every: '2s' })) });
    await runScenario();
  });

  async function runScenario(): Promise<void> {
    await scenario('9 cluster master stop 5s + start', async (f) => {
      const workers: WorkerProcess[] = [await stack.startWorker('worker-9a', EXTRA_ENV), await stack.startWorker('worker-9b', EXTRA_ENV)];
      const base = requests();
      await eventually(async () => allAtLeast(base, 2), 30_000, 'scheduled fetches before the restart');

      // The master of the ingest queue's slot (each queue has its own: queuePrefix).
      const node = await stack.redisCluster!.nodeFor(`${queuePrefix(stack.prefix, 'ingest')}:x`);
      f.restarted_port = node.port;
      await node.stop('SIGTERM');
      const down = performance.now();
      await sleep(OUTAGE_MS);
      const duringOutage = requests();
      await node.start();
      await stack.redisCluster!.waitOk(60_000);
      const up = performance.now();
      f.outage_s = (up - down) / 1000;

      await eventually(async () => allAtLeast(duringOutage, 3), 90_000, 'scheduled fetches after the restart').catch(async (err: unknown) => {
        // Where the schedule stopped: the queues' own view, then what each worker last said.
        for (const name of ['ingest', 'rollup', 'maintenance'] as const) {
          const q = stack.queues[name];
          const counts = await q.getJobCounts().catch((e: unknown) => String(e));
          const schedulers = await q.getJobSchedulersCount().catch((e: unknown) => String(e));
          const active = await q.getActive().then((jobs) => jobs.map((j) => `${j.name}:${j.id}`), (e: unknown) => String(e));
          console.warn(`[fault 9] ${name}: ${JSON.stringify(counts)} schedulers=${String(schedulers)} active=${JSON.stringify(active)}`);
        }
        console.warn(`[fault 9] requests per source: before ${JSON.stringify(duringOutage)}, now ${JSON.stringify(requests())}`);
        for (const wk of workers) console.warn(`[fault 9] ${wk.name}:\n${wk.output().split('\n').slice(-25).join('\n')}`);
        await Promise.all(workers.map((w) => w.kill('SIGKILL')));
        throw err;
      });
      f.schedule_resumed_s = (performance.now() - up) / 1000;
      const manual = await Promise.all(SOURCES.map((sourceId) => stack.enqueue('fetch', { sourceId })));
      const states = await stack.waitForJobs(manual, 60_000);
      f.manual_completed = [...states.values()].filter((s) => s === 'completed').length;

      for (const feed of feeds.values()) feed.freeze();
      const frozen = requests();
      await eventually(async () => allAtLeast(frozen, 2), 60_000, 'fetches after freezing');
      f.workers_alive = workers.filter((w) => w.alive()).length;
      // How often the consumption watchdog had to replace a Worker (0 when the clients recovered alone).
      f.workers_recreated = workers.reduce((n, w) => n + (w.output().match(/recreating this queue's worker/g)?.length ?? 0), 0);
      const exits = await Promise.all(workers.map((w) => w.kill('SIGTERM')));
      f.exit_codes = exits.join(',');
      // A worker that did not exit 0 says why in its last log lines.
      workers.forEach((wk, i) => {
        if (exits[i] !== 0) console.warn(`[fault 9] ${wk.name} exited ${exits[i]}:\n${wk.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-15).join('\n')}`);
      });
      const w = await stack.startWorker('worker-9-settle', EXTRA_ENV);
      await stack.waitDrained(60_000, ['ingest', 'rollup']);
      await stack.settleRollups(60_000);
      const reaped = await stack.reap();
      await w.kill('SIGTERM');

      const served = SOURCES.reduce((s, id) => s + feeds.get(id)!.servedUpTo(), 0);
      const articles = await stack.count('select count(*) as n from article');
      const distinct = await stack.count('select count(distinct url_key) as n from article');
      const problems = await stack.oracleProblems();
      f.fetch_requests = requests().reduce((a, b) => a + b, 0);
      f.items_served = served;
      f.articles = articles;
      f.lost = served - distinct;
      f.duplicates = articles - distinct;
      f.reaped = reaped.abandoned;
      f.oracle_diffs = problems.length;
      expect(f.workers_alive).toBe(2);
      expect(exits).toEqual([0, 0]);
      expect(f.manual_completed).toBe(SOURCES.length);
      expect(articles).toBe(served);
      expect(distinct).toBe(served);
      expect(await stack.count(`select count(*) as n from job_run where status = 'running'`)).toBe(0);
      expect(problems.slice(0, 10)).toEqual([]);
    });
  }
});
