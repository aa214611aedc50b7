import { describe, expect, it } from 'vitest';
import { jobTitle, presentResult, snakeCase } from '../../src/board/present.ts';

describe('job presentation', () => {
  it('titles a fetch by its source and what it did', () => {
    expect(jobTitle({ name: 'fetch', data: { sourceId: 'bbc-business' } })).toBe('fetch bbc-business');
    expect(jobTitle({ name: 'fetch', data: { sourceId: 'bbc' }, returnValue: { fetched: 0, inserted: 0, not_modified: true } })).toBe('fetch bbc · 304 not modified');
    expect(jobTitle({ name: 'fetch', data: { sourceId: 'bbc' }, returnValue: { fetched: 30, inserted: 1, not_modified: false } })).toBe('fetch bbc · +1 article');
    expect(jobTitle({ name: 'fetch', data: { sourceId: 'bbc' }, returnValue: { fetched: 30, inserted: 0, not_modified: false } })).toBe('fetch bbc · no new articles');
    expect(jobTitle({ name: 'fetch', data: { sourceId: 'bbc' }, returnValue: { skipped: 'backoff' } })).toBe('fetch bbc · skipped (backoff)');
    expect(jobTitle({ name: 'rebuild', data: { from: '2026-11-01', to: '2026-11-22', entity: null } })).toBe('rebuild from=2026-11-01 to=2026-11-22');
  });

  it('shows results in snake_case without null fields, rebuild counters named for their meaning', () => {
    expect(snakeCase('skippedHours')).toBe('skipped_hours');
    expect(snakeCase('already_snake')).toBe('already_snake');
    expect(presentResult('prune', { articles: 3, jobRuns: 2, note: null })).toEqual({ articles: 3, job_runs: 2 });
    expect(presentResult('rebuild', { chunks: 3, skippedHours: 58488, retentionCutoff: '2026-09-03T00:00:00.000Z', entity: null })).toEqual({
      chunks: 3,
      hours_kept_older_than_retention: 58488,
      retention_cutoff: '2026-09-03T00:00:00.000Z',
    });
    expect(presentResult('fetch', 'text')).toBe('text');
  });
});
