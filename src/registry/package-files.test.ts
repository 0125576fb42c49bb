/**
 * `PackageFileService` input checks: bad input gets a clear error and never reaches the store.
 * (What the store does with good input is the shared suite, metadata/package-file-store.suite.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError, type ErrorCode } from '../base/errors.js';
import type { PackageFileRecord, PackageFileStore, PackageVersionFiles } from '../metadata/package-file-store.js';
import { PackageFileService } from './package-files.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function recordingStore(): { store: PackageFileStore; puts: PackageVersionFiles[] } {
  const puts: PackageVersionFiles[] = [];
  const store: PackageFileStore = {
    async putVersionFiles(input) {
      puts.push(input);
      return [] as PackageFileRecord[];
    },
    async listVersionFiles() {
      return [];
    },
    async deleteVersionFiles() {
      return 0;
    },
    // --- listing (views) ---
    async listArtifacts() {
      return [];
    },
    async countArtifacts() {
      return new Map();
    },
    async listVersions() {
      return [];
    },
    async listFilesOf() {
      return [];
    },
  };
  return { store, puts };
}

const version = (files: PackageVersionFiles['files'], extra: Partial<PackageVersionFiles> = {}): PackageVersionFiles => ({
  registryId: 'reg',
  artifact: 'hello',
  version: '1.0.0',
  repositoryId: 'repo',
  manifestId: null,
  files,
  ...extra,
});

describe('PackageFileService', () => {
  const cases: Array<[string, PackageVersionFiles, ErrorCode]> = [
    ['an empty artifact name', version([], { artifact: '' }), 'INVALID_ARGUMENT'],
    ['an empty version', version([], { version: '' }), 'INVALID_ARGUMENT'],
    ['an empty path', version([{ path: '', digest: DIGEST, size: 1 }]), 'INVALID_ARGUMENT'],
    ['a repeated path', version([{ path: 'a', digest: DIGEST, size: 1 }, { path: 'a', digest: DIGEST, size: 1 }]), 'INVALID_ARGUMENT'],
    ['a malformed digest', version([{ path: 'a', digest: 'sha256:xyz', size: 1 }]), 'DIGEST_INVALID'],
    ['a negative size', version([{ path: 'a', digest: DIGEST, size: -1 }]), 'INVALID_ARGUMENT'],
    ['a fractional size', version([{ path: 'a', digest: DIGEST, size: 1.5 }]), 'INVALID_ARGUMENT'],
  ];
  for (const [what, input, code] of cases) {
    it(`refuses ${what} with ${code} and records nothing`, async () => {
      const { store, puts } = recordingStore();
      await assert.rejects(new PackageFileService(store).record(input), (err: unknown) => isPalletError(err, code));
      assert.equal(puts.length, 0);
    });
  }

  it('passes a good version to the store as given', async () => {
    const { store, puts } = recordingStore();
    const input = version([{ path: 'hello-1.0.0.tgz', digest: DIGEST, size: 10 }, { path: 'hello-1.0.0.tgz.prov', digest: DIGEST, size: 10 }]);
    await new PackageFileService(store).record(input);
    assert.deepEqual(puts, [input]);
  });
});
