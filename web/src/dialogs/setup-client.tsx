/**
 * Setup Client: the login / push / pull commands for this registry's type (`GET …/setup`, host
 * and names filled in by the server), each with a copy button, and Generate token, which
 * creates an access token (`POST /user/tokens`) and shows it this once. Once a token exists, the
 * steps show it where they name `<access token>` (an `.npmrc` `_authToken` line, a curl `-u`),
 * so they can be copied as they are.
 */
import { useState } from 'react';
import { api, registryPath, type Registry, type Setup, type TokenCreated } from '../api.js';
import { Command, CopyButton, ErrorBanner, Modal, useAsync } from '../ui.js';

export function SetupClientPanel({ registry, onClose }: { registry: Registry; onClose: () => void }) {
  const setup = useAsync(() => api<Setup>('GET', `${registryPath(registry)}/setup`), [registry.root, registry.identifier]);
  const [token, setToken] = useState<TokenCreated | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const generate = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');
      setToken(
        await api<TokenCreated>('POST', '/user/tokens', {
          name: `setup-${registry.identifier}-${stamp}`,
          expiresInDays: 30,
          scopes: ['read', 'write'],
          space: registry.root,
        }),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={`Setup Client: ${registry.identifier}`} onClose={onClose} wide className="drawer">
      <ErrorBanner error={setup.error} />
      {setup.loading && !setup.data && <p role="status">Loading…</p>}
      <section className="token-box" aria-labelledby="token-title">
        <h3 id="token-title">Access token</h3>
        <p className="muted">Log in with your username and an access token as the password.</p>
        {token ? (
          <div role="status">
            <p>
              <strong>Token “{token.name}” created.</strong> Copy it now: it is shown only once
              {token.expiresAt ? ` and expires ${new Date(token.expiresAt).toLocaleDateString('en')}` : ''}.
            </p>
            <div className="command">
              <code data-testid="new-token">{token.token}</code>
              <CopyButton text={token.token} label="Copy token" />
            </div>
          </div>
        ) : (
          <button type="button" className="primary" onClick={() => void generate()} disabled={busy}>
            Generate token
          </button>
        )}
        <ErrorBanner error={error} />
      </section>
      <ol className="steps">
        {setup.data?.steps.map((step) => (
          <li key={step.title}>
            <h3>{step.title}</h3>
            {step.commands.map((c) => (
              <Command key={c} text={token ? c.replaceAll('<access token>', token.token) : c} />
            ))}
            {step.note && <p className="hint">{step.note}</p>}
          </li>
        ))}
      </ol>
    </Modal>
  );
}
