/**
 * The worker image: it builds from a small context, runs as non-root, holds production
 * dependencies only, and every module `node src/main.ts worker` loads resolves inside it.
 * Figures (context, build times, size) are printed, not asserted.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { announceSkip, buildImage, detectEngine, figure, mb, ok, ROOT, run, TEST_IMAGE } from './support/docker.ts';

const engine = await detectEngine();
if (!engine.ok) announceSkip('image tests', engine.reason ?? 'no engine');

const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** Module URLs one process resolved, with the app root replaced so image and host compare. */
function resolutions(stderr: string, root: string): string[] {
  return [
    ...new Set(
      stderr
        .split('\n')
        .filter((l) => l.startsWith('RESOLVED '))
        .map((l) => l.slice('RESOLVED '.length).replace(root, 'APP/')),
    ),
  ].sort();
}

describe.skipIf(!engine.ok)('the worker image', () => {
  beforeAll(async () => {
    const first = await buildImage(process.env.CONTAINER_BUILD_UNCACHED === '1' ? ['--no-cache'] : []);
    figure(process.env.CONTAINER_BUILD_UNCACHED === '1' ? 'build, uncached' : 'build, first in this run', `${(first.ms / 1000).toFixed(1)} s`);
    figure('build context', `${(first.contextBytes / 1e3).toFixed(1)} kB`);
  });

  it('rebuilds from cache and sends a context without node_modules, .git, tests or .env', async () => {
    const cached = await buildImage();
    figure('build, cached', `${(cached.ms / 1000).toFixed(1)} s`);
    expect(cached.output).toMatch(/Using cache/);
    // Nothing ran again: every step came from the cache (a RUN that executes prints "Running in").
    expect(cached.output).not.toMatch(/Running in/);
    expect(cached.contextBytes).toBeLessThan(5e6);

    // What the context holds, seen from inside a build that lists it (.dockerignore applies).
    const listing = await ok('docker', ['build', '--no-cache', '-q', '-t', 'newspulse:ctest-context', '-f', '-', '.'], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      input: `FROM ${TEST_IMAGE}\nUSER root\nCOPY . /context\nRUN cd /context && find . -maxdepth 2 | sort > /context.txt\n`,
    });
    expect(listing.code).toBe(0);
    const files = (await ok('docker', ['run', '--rm', 'newspulse:ctest-context', 'cat', '/context.txt'])).stdout.split('\n');
    await run('docker', ['image', 'rm', 'newspulse:ctest-context']);
    expect(files).toContain('./src/main.ts');
    expect(files).toContain('./package-lock.json');
    for (const banned of ['./node_modules', './.git', './test', './bench', './.env', './README.md']) expect(files).not.toContain(banned);
  });

  it('runs as the unprivileged node user, with no image-wide healthcheck', async () => {
    const uid = (await ok('docker', ['run', '--rm', TEST_IMAGE, 'id', '-u'])).stdout.trim();
    expect(uid).not.toBe('0');
    expect(uid).toBe('1000');
    const inspect = JSON.parse((await ok('docker', ['image', 'inspect', TEST_IMAGE])).stdout) as [{ Config: { User: string; Healthcheck: unknown; Cmd: string[] }; Size: number }];
    expect(inspect[0].Config.User).toBe('node');
    expect(inspect[0].Config.Healthcheck ?? null).toBeNull();
    expect(inspect[0].Config.Cmd).toEqual(['node', 'src/main.ts', 'worker']);
    figure('image size', mb(inspect[0].Size));
    const baseTag = /^FROM (\S+)/m.exec(readFileSync(`${ROOT}/Dockerfile`, 'utf8'))?.[1] ?? 'no FROM line';
    const base = JSON.parse((await ok('docker', ['image', 'inspect', baseTag])).stdout) as [{ Size: number }];
    figure('of which base image', mb(base[0].Size));
  });

  it('holds production dependencies only (no typescript, no dev tools)', async () => {
    const script = `
      const fs = require('node:fs');
      const names = [];
      for (const d of fs.readdirSync('node_modules')) {
        if (d.startsWith('.')) continue;
        if (d.startsWith('@')) for (const s of fs.readdirSync('node_modules/' + d)) names.push(d + '/' + s);
        else names.push(d);
      }
      console.log(JSON.stringify(names));`;
    const installed = JSON.parse((await ok('docker', ['run', '--rm', TEST_IMAGE, 'node', '-e', script])).stdout) as string[];
    for (const dev of Object.keys(pkg.devDependencies)) expect(installed, dev).not.toContain(dev);
    expect(installed).not.toContain('typescript');
    for (const dep of Object.keys(pkg.dependencies)) expect(installed, dep).toContain(dep);
    const du = (await ok('docker', ['run', '--rm', TEST_IMAGE, 'du', '-sb', 'node_modules'])).stdout.split('\t')[0];
    figure('image node_modules', `${mb(Number(du))} in ${installed.length} packages`);
  });

  it('resolves every module `node src/main.ts worker` loads, the same set as the working tree', async () => {
    // An unknown command makes main exit right after its whole static graph is loaded and linked.
    const probe = ['--import', '/probe/record-resolutions.mjs', 'src/main.ts', 'container-import-probe'];
    const inImage = await run('docker', ['run', '--rm', '-v', `${ROOT}test/container/support:/probe:ro`, TEST_IMAGE, 'node', ...probe]);
    expect(inImage.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
    const onHost = await run(`${ROOT}node_modules/.bin/node`, probe.map((a) => a.replace('/probe/', `${ROOT}test/container/support/`)));
    expect(onHost.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);

    const image = resolutions(inImage.stderr, 'file:///app/');
    const host = resolutions(onHost.stderr, `file://${ROOT}`);
    figure('modules resolved by `src/main.ts` in the image', String(image.length));
    for (const needed of ['bullmq', '@mikro-orm/postgresql', 'fastify', 'undici', 'ioredis', 'pg']) {
      expect(image.some((u) => u.includes(`/node_modules/${needed}/`)), needed).toBe(true);
    }
    expect(image.filter((u) => u.startsWith('APP/src/')).length).toBeGreaterThan(20);
    expect(image).toEqual(host);
  });
});
