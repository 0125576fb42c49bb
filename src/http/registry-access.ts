/**
 * The disclosure rule (`src/auth/access-gate.ts`) applied to what the HTTP surfaces address
 * by name: a registry (`<root>/<identifier>`) and a space (`<path>`). The loaders here are the
 * only ones the surfaces use, so "resolve, authorize, refuse the unknown like the private" runs
 * the same code for `/pkg/…` and `/api/v1` (`/v2` resolves repository names the same way in
 * `formats/oci/auth.ts`). Each surface turns the `Refusal` into its own answer.
 */
import type { Decision } from '../auth/access-gate.js';
import type { Principal } from '../auth/principal.js';
import type { Action } from '../auth/roles.js';
import { isPalletError } from '../base/errors.js';
import type { SpaceRecord } from '../metadata/store.js';
import type { RegistryRef } from '../registry/registries.js';
import type { Services } from '../services.js';

const isNotFound = (err: unknown): boolean => isPalletError(err, 'NOT_FOUND');

/**
 * Registry `<root>/<identifier>` if the principal may do `action` on it; NOT_FOUND (the
 * domain's message) when it does not exist and the principal may know; else the refusal.
 */
export async function decideRegistry(services: Services, principal: Principal, action: Action, root: string, identifier: string): Promise<Decision<RegistryRef>> {
  const { access, gate } = services.auth;
  return gate.decide(
    principal,
    action,
    { container: root },
    async () => {
      const ref = await services.registries.getRef(root, identifier);
      const spacePath = (await access.spacePath(ref.registry.spaceId)) ?? root;
      return { value: ref, resource: { spacePath, registry: { id: ref.registry.id, public: ref.registry.public } } };
    },
    isNotFound,
  );
}

/** Space `<path>` if the principal may do `action` on it; NOT_FOUND or the refusal as for a registry. */
export async function decideSpace(services: Services, principal: Principal, action: Action, path: string): Promise<Decision<SpaceRecord>> {
  const slash = path.lastIndexOf('/');
  return services.auth.gate.decide(
    principal,
    action,
    { container: slash < 0 ? undefined : path.slice(0, slash) },
    async () => {
      const space = await services.spaces.getRecord(path);
      return { value: space, resource: { spacePath: space.path } };
    },
    isNotFound,
  );
}
