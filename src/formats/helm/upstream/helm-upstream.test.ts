import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryEndpoint } from '../../../upstream/client.js';
import { indexUrlOf } from './helm-upstream.js';

describe('classic helm upstream index', () => {
  it('finds the index of a repository URL', () => {
    assert.equal(indexUrlOf('https://charts.example/stable'), 'https://charts.example/stable/index.yaml');
    assert.equal(indexUrlOf('https://charts.example/stable/index.yaml'), 'https://charts.example/stable/index.yaml');
  });
});

describe('registryEndpoint', () => {
  it('maps oci:// URLs to the registry API base and a repository prefix', () => {
    assert.deepEqual(registryEndpoint('oci://ghcr.io/acme/charts'), { url: 'https://ghcr.io', namePrefix: 'acme/charts' });
    assert.deepEqual(registryEndpoint('oci://127.0.0.1:5000'), { url: 'http://127.0.0.1:5000' });
    assert.deepEqual(registryEndpoint('https://registry.example'), { url: 'https://registry.example' });
  });
});
