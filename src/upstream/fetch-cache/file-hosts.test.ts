import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileHostListed, parseFileHosts } from './file-hosts.js';

describe('upstream.fileHosts', () => {
  const hosts = parseFileHosts(' github.com, *.CDN.example ,, files.example:8443 ');

  it('reads the comma-separated entries, blanks left out', () => {
    assert.deepEqual(hosts, ['github.com', '*.CDN.example', 'files.example:8443']);
  });

  it('lists a name on any port, a name with its port on that port only, and names below a *.suffix', () => {
    const listed = (url: string) => fileHostListed(new URL(url), hosts);
    assert.equal(listed('https://GitHub.com/a.tgz'), true);
    assert.equal(listed('https://github.com:444/a.tgz'), true);
    assert.equal(listed('https://files.example:8443/a.tgz'), true);
    assert.equal(listed('https://files.example/a.tgz'), false);
    assert.equal(listed('https://eu.cdn.example/a.tgz'), true);
    assert.equal(listed('https://a.b.cdn.example/a.tgz'), true);
    assert.equal(listed('https://cdn.example/a.tgz'), false, 'the suffix itself is not below it');
    assert.equal(listed('https://evilcdn.example/a.tgz'), false);
    assert.equal(listed('https://github.com.evil.example/a.tgz'), false);
  });
});
