import { describe, expect, it } from 'vitest';
import { HostHints } from '../../src/ingest/host-hints.ts';

describe('host hints', () => {
  it('remembers, replaces and forgets the host of a source', () => {
    const hints = new HostHints();
    expect(hints.get('a')).toBeUndefined();
    hints.set('a', 'feeds.example:443');
    expect(hints.get('a')).toBe('feeds.example:443');
    hints.set('a', 'moved.example:443');
    expect(hints.get('a')).toBe('moved.example:443');
    expect(hints.size).toBe(1);
    hints.forget('a');
    expect(hints.get('a')).toBeUndefined();
    hints.forget('never-set');
    expect(hints.size).toBe(0);
  });

  it('past its capacity, drops the hint set longest ago (setting again counts as recent)', () => {
    const hints = new HostHints(3);
    hints.set('a', 'h1');
    hints.set('b', 'h2');
    hints.set('c', 'h3');
    hints.set('a', 'h1');
    hints.set('d', 'h4');
    expect(hints.size).toBe(3);
    expect(hints.get('b')).toBeUndefined();
    expect([hints.get('a'), hints.get('c'), hints.get('d')]).toEqual(['h1', 'h3', 'h4']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new HostHints(0)).toThrow('host hints: capacity must be a positive integer, got 0');
    expect(() => new HostHints(1.5)).toThrow('got 1.5');
  });
});
