import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import Fastify from 'fastify';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { QUEUES, type QueueName } from '../queues/catalogue.ts';
import type { Queues } from '../queues/queues.ts';
import { jobTitle, presentResult } from './present.ts';

/** The board lives under this path; the adapter's base path must equal the registered prefix. */
export const BOARD_PATH = '/board';

export class BoardConfigError extends Error {
  override name = 'BoardConfigError';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Where the board may listen. Without a password it is reachable from this machine only;
 * asking for any other address without a password is refused rather than silently exposed.
 */
export function boardBinding(board: Config['board']): { host: string; auth: boolean } {
  if (board.password) return { host: board.host, auth: true };
  if (!LOOPBACK.has(board.host)) {
    throw new BoardConfigError(`board: refusing to listen on ${board.host} without a password; set BOARD_PASSWORD (and BOARD_USER) or BOARD_HOST=127.0.0.1`);
  }
  return { host: board.host, auth: false };
}

/** Equal-time comparison: hashing first makes lengths equal, so length leaks nothing either. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface Board {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startBoard(config: Config, queues: Queues, log: Logger): Promise<Board> {
  const { host, auth } = boardBinding(config.board);
  const serverAdapter = new FastifyAdapter().setBasePath(BOARD_PATH);
  createBullBoard({
    queues: (Object.entries(queues) as [QueueName, Queues[QueueName]][]).map(([name, queue]) => {
      const adapter = new BullMQAdapter(queue, {
        readOnlyMode: config.board.readOnly,
        displayName: QUEUES[name].displayName,
        description: QUEUES[name].description,
      });
      // "fetch bbc-business · 304 not modified" instead of "fetch": what each source is doing.
      adapter.setFormatter('name', (job: { name: string; data?: unknown; returnvalue?: unknown }) =>
        jobTitle({ name: job.name, data: job.data, returnValue: job.returnvalue }),
      );
      // Only rebuild results carry retentionCutoff; its counters get self-explaining names.
      adapter.setFormatter('returnValue', (value: unknown) =>
        presentResult(value && typeof value === 'object' && 'retentionCutoff' in value ? 'rebuild' : '', value),
      );
      return adapter;
    }),
    serverAdapter,
    // Throughput graphs: the workers record BullMQ metrics (src/queues/workers.ts).
    options: { uiConfig: { boardTitle: 'newspulse', showMetrics: true } },
  });

  const app = Fastify({ logger: false });
  // Encapsulated: the auth hook covers the board's pages, assets and API, and nothing else.
  await app.register(async (scope) => {
    if (auth) {
      const { user, password } = config.board;
      await scope.register(fastifyBasicAuth, {
        validate: async (username, given) => {
          // Evaluate both comparisons so timing does not tell which one failed.
          const ok = [sameSecret(username, user), sameSecret(given, password ?? '')].every(Boolean);
          if (!ok) return new Error('invalid credentials');
        },
        authenticate: { realm: 'newspulse' },
      });
      scope.addHook('onRequest', scope.basicAuth);
    }
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
  app.get('/', (_req, reply) => reply.redirect(BOARD_PATH));

  await app.listen({ host, port: config.board.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.board.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${BOARD_PATH}`;
  if (auth) log.info({ url, user: config.board.user, read_only: config.board.readOnly }, 'bull-board listening (basic auth)');
  else log.warn({ url, read_only: config.board.readOnly }, 'bull-board listening on loopback only WITHOUT auth: set BOARD_PASSWORD to expose it');
  return { url, port, close: () => app.close() };
}
