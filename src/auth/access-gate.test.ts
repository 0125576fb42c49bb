/**
 * The disclosure rule in isolation (`access-gate.ts`), over a fake access table: allowed
 * requests skip the may-know lookup; a refused existing thing and an unknown one take the
 * same path and get the same refusal; the nearest existing space decides who may know; a JWT
 * may know what it names; other loader errors pass through.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PalletError, isPalletError } from '../base/errors.js';
import type { UserRecord } from '../metadata/identity-store.js';
import type { SpaceRecord } from '../metadata/store.js';
import type { Resource } from './access.js';
import { AccessGate, type Found } from './access-gate.js';
import { ANONYMOUS, type Principal } from './principal.js';
import type { Action } from './roles.js';

const user = (username: string, admin: boolean): UserRecord => ({
  id: `u-${username}`,
  username,
  passwordHash: '',
  email: '',
  admin,
  disabled: false,
  createdAt: 0,
  updatedAt: 0,
  lastLoginAt: null,
});
const alice: Principal = { kind: 'user', user: user('alice', false), via: 'password' };
const root: Principal = { kind: 'user', user: user('root', true), via: 'password' };

/** alice reads `acme` (and so everything below it) and writes `globex/p1`. */
function gate(spaces: string[]): { gate: AccessGate; lookups: string[]; checks: string[] } {
  const roles: Record<string, Action[]> = { acme: ['pull'], 'globex/p1': ['pull', 'push'] };
  const held = (principal: Principal, resource: Resource): Set<Action> => {
    if (principal === root) return new Set(['pull', 'push', 'delete', 'manage', 'own']);
    const out = new Set<Action>(resource.registry?.public ? ['pull'] : []);
    if (principal !== alice) return out;
    for (const [path, actions] of Object.entries(roles)) {
      if (resource.spacePath === path || resource.spacePath.startsWith(`${path}/`)) for (const a of actions) out.add(a);
    }
    return out;
  };
  const lookups: string[] = [];
  const checks: string[] = [];
  const access = {
    isGlobalAdmin: (p: Principal) => p === root,
    actions: async (p: Principal, r: Resource) => {
      checks.push(`actions ${r.spacePath}`);
      return held(p, r);
    },
    can: async (p: Principal, a: Action, r: Resource) => {
      checks.push(`can ${a}`);
      return held(p, r).has(a);
    },
  };
  const store = {
    findSpace: async (path: string) => {
      lookups.push(path);
      return spaces.includes(path) ? space(path) : undefined;
    },
  };
  return { gate: new AccessGate(access, store), lookups, checks };
}

function space(path: string): SpaceRecord {
  return { id: `s-${path}`, path, parentId: null, rootId: `s-${path.split('/')[0]}`, description: '', createdAt: 0, updatedAt: 0 };
}

const missing = new PalletError('NOT_FOUND', 'no such registry');
const isMissing = (err: unknown) => err === missing;
const registry = (spacePath: string, isPublic = false) => async (): Promise<Found<string>> => ({
  value: 'the registry',
  resource: { spacePath, registry: { id: `r-${spacePath}`, public: isPublic } },
});
const unknown = async (): Promise<Found<string>> => {
  throw missing;
};

describe('AccessGate', () => {
  it('allows without looking further', async () => {
    const { gate: g, lookups } = gate(['acme']);
    assert.deepEqual(await g.decide(alice, 'pull', { container: 'acme' }, registry('acme'), isMissing), { outcome: 'allowed', value: 'the registry' });
    assert.deepEqual(lookups, []);
  });

  it('refuses a missing registry exactly like a private one, through the same lookups', async () => {
    const { gate: g, lookups, checks } = gate(['acme', 'initech']);
    const existing = await g.decide(alice, 'pull', { container: 'initech' }, registry('initech'), isMissing);
    const existingWork = [...lookups.splice(0), ...checks.splice(0)];
    const absent = await g.decide(alice, 'pull', { container: 'initech' }, unknown, isMissing);
    assert.deepEqual(absent, existing);
    assert.deepEqual(absent, { outcome: 'refused', refusal: 'denied' });
    assert.deepEqual([...lookups, ...checks], existingWork);
    assert.deepEqual(existingWork, ['initech', 'can pull', 'actions initech']);
    assert.deepEqual(await g.decide(ANONYMOUS, 'pull', { container: 'initech' }, unknown, isMissing), { outcome: 'refused', refusal: 'unauthenticated' });
  });

  it('tells a caller who could see it that it does not exist, with the loader’s own error', async () => {
    const { gate: g } = gate(['acme']);
    // alice reads acme: a push to a missing registry there is NOT_FOUND, not a refusal.
    await assert.rejects(g.decide(alice, 'push', { container: 'acme' }, unknown, isMissing), (err) => err === missing);
    await assert.rejects(g.decide(root, 'pull', { container: 'nowhere' }, unknown, isMissing), (err) => err === missing);
  });

  it('asks the nearest existing space: a role below the root does not reveal the root’s registries', async () => {
    const { gate: g, lookups } = gate(['globex', 'globex/p1']);
    // A space globex/p1/x/y (missing) under a space alice writes: she may know.
    await assert.rejects(g.decide(alice, 'pull', { container: 'globex/p1/x' }, unknown, isMissing), (err) => err === missing);
    assert.deepEqual(lookups, ['globex/p1/x', 'globex/p1']);
    // A registry globex/<missing>: identifiers are per root, and alice holds nothing on globex.
    assert.deepEqual(await g.decide(alice, 'pull', { container: 'globex' }, unknown, isMissing), { outcome: 'refused', refusal: 'denied' });
  });

  it('lets a token-service JWT know what it names, and holds it to its actions', async () => {
    const { gate: g } = gate(['acme']);
    const jwt: Principal = { kind: 'grant', subject: 'alice', catalog: false, access: [{ type: 'repository', name: 'acme/r/app', actions: ['pull'] }] };
    const place = { container: 'acme', repository: 'acme/r/app' };
    assert.equal((await g.decide(jwt, 'pull', place, registry('acme'), isMissing)).outcome, 'allowed');
    assert.deepEqual(await g.decide(jwt, 'push', place, registry('acme'), isMissing), { outcome: 'refused', refusal: 'insufficient-scope' });
    await assert.rejects(g.decide(jwt, 'push', place, unknown, isMissing), (err) => err === missing);
    assert.deepEqual(await g.decide(jwt, 'pull', { container: 'acme', repository: 'acme/other/app' }, unknown, isMissing), { outcome: 'refused', refusal: 'insufficient-scope' });
  });

  it('passes other loader errors through', async () => {
    const { gate: g } = gate(['acme']);
    const broken = async (): Promise<Found<string>> => {
      throw new PalletError('UNAVAILABLE', 'database down');
    };
    await assert.rejects(g.decide(ANONYMOUS, 'pull', { container: 'acme' }, broken, isMissing), (err) => isPalletError(err, 'UNAVAILABLE'));
  });

  it('grants where nothing exists what the caller would hold on a private registry of an existing root', async () => {
    const { gate: g } = gate(['acme']);
    assert.equal(await g.heldWhereUnknown(alice, 'pull', 'acme'), true);
    assert.equal(await g.heldWhereUnknown(alice, 'push', 'acme'), false);
    assert.equal(await g.heldWhereUnknown(alice, 'pull', 'nowhere'), false);
    assert.equal(await g.heldWhereUnknown(root, 'push', 'nowhere'), true);
  });
});
