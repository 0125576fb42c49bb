/**
 * Token-service JWTs: what is issued verifies and carries the grant; a token signed with
 * another key, with `alg: none`, for another audience or past its expiry is refused; the key
 * persists in the store and is adopted by a second signer (another replica, a restart).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { isPalletError } from '../base/errors.js';
import { openDatabase } from '../metadata/open.js';
import { SqlIdentityStore } from '../metadata/sql-identity-store.js';
import type { MetadataStore } from '../metadata/store.js';
import { SecretBox } from '../base/secret-box.js';
import { OciTokenSigner, TOKEN_ISSUER } from './oci-tokens.js';

describe('OciTokenSigner', () => {
  let dir: string;
  let metadata: MetadataStore;
  let identity: SqlIdentityStore;
  let signer: OciTokenSigner;
  const audience = 'registry.example:5000';
  const unauthorized = (err: unknown) => isPalletError(err, 'UNAUTHORIZED');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pallet-jwt-'));
    const opened = await openDatabase({ url: '', dataDir: dir });
    metadata = opened.metadata;
    identity = new SqlIdentityStore(opened.db, opened.dialect);
    signer = new OciTokenSigner(identity, { ttlSeconds: 300, cacheMs: 0 });
    await signer.init();
  });

  after(async () => {
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('issues a token that verifies to exactly the granted access', async () => {
    const access = [{ type: 'repository' as const, name: 'acme/r/app', actions: ['pull' as const] }];
    const { token, expiresIn } = await signer.issue('alice', audience, access, true, 'tid-1');
    assert.equal(expiresIn, 300);
    const grant = await signer.verify(token, audience);
    assert.deepEqual(grant, { kind: 'grant', subject: 'alice', access, catalog: true, tokenId: 'tid-1' });
  });

  it('a second signer over the same database (restart, replica) verifies the first one’s tokens', async () => {
    const { token } = await signer.issue(null, audience, [], false);
    const other = new OciTokenSigner(identity, { ttlSeconds: 300, cacheMs: 0 });
    await other.init();
    assert.equal((await other.verify(token, audience)).subject, null);
  });

  it('seals the private key at rest with the server box; another box cannot open it', async () => {
    const dir2 = await mkdtemp(join(tmpdir(), 'pallet-jwt-sealed-'));
    const opened = await openDatabase({ url: '', dataDir: dir2 });
    try {
      const store = new SqlIdentityStore(opened.db, opened.dialect);
      const box = new SecretBox(randomBytes(32));
      const sealed = new OciTokenSigner(store, { ttlSeconds: 300, cacheMs: 0, secrets: box });
      await sealed.init();
      const [key] = await store.listSigningKeys();
      assert.ok(box.isSealed(key!.privateJwk), 'stored sealed');
      assert.doesNotMatch(key!.privateJwk, /"d"/);
      const { token } = await sealed.issue('alice', audience, [], false);
      const again = new OciTokenSigner(store, { ttlSeconds: 300, cacheMs: 0, secrets: box });
      await again.init();
      assert.equal((await again.verify(token, audience)).subject, 'alice');
      const wrongBox = new OciTokenSigner(store, { ttlSeconds: 300, cacheMs: 0, secrets: new SecretBox(randomBytes(32)) });
      await assert.rejects(wrongBox.init(), /signing key cannot be decrypted/);
    } finally {
      await opened.metadata.close();
      await rm(dir2, { recursive: true, force: true });
    }
  });

  it('refuses a token signed by another key, even with our kid', async () => {
    const { token } = await signer.issue('alice', audience, [], false);
    const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ access: [{ type: 'repository', name: 'acme/r/app', actions: ['push'] }] })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(audience)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    await assert.rejects(signer.verify(forged, audience), unauthorized);
  });

  it('refuses alg none, an HS256 token, another audience, a tampered payload and an expired token', async () => {
    const none = new UnsecuredJWT({ access: [] }).setIssuer(TOKEN_ISSUER).setAudience(audience).setExpirationTime('5m').encode();
    await assert.rejects(signer.verify(none, audience), unauthorized);
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(TOKEN_ISSUER).setAudience(audience).setExpirationTime('5m').sign(new Uint8Array(32));
    await assert.rejects(signer.verify(hs, audience), unauthorized);
    const { token } = await signer.issue('alice', audience, [], false);
    await assert.rejects(signer.verify(token, 'other.example'), unauthorized);
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.access = [{ type: 'repository', name: 'acme/r/app', actions: ['push'] }];
    await assert.rejects(signer.verify(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, audience), unauthorized);
    const short = new OciTokenSigner(identity, { ttlSeconds: -10, cacheMs: 0 });
    await short.init();
    const expired = await short.issue('alice', audience, [], false);
    await assert.rejects(signer.verify(expired.token, audience), (err: unknown) => unauthorized(err) && (err as { detail?: { expired?: boolean } }).detail?.expired === true);
    await assert.rejects(signer.verify(none, audience), (err: unknown) => unauthorized(err) && (err as { detail?: unknown }).detail === undefined, 'only our own expired tokens say so');
  });
});
