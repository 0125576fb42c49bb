/**
 * Space members: a user's role on a space (`reader`, `writer`, `admin`, `owner`), which applies
 * to the space's projects as well. Who may change which role is the caller's check (see the
 * API's member routes); this module validates and stores.
 */
import { PalletError } from '../base/errors.js';
import type { IdentityStore, MemberRecord, MemberRole } from '../metadata/identity-store.js';
import type { MetadataStore, SpaceRecord } from '../metadata/store.js';
import { isRole, ROLES } from './roles.js';

export interface MemberView {
  space: string;
  username: string;
  role: MemberRole;
  createdAt: string;
  updatedAt: string;
}

function toMemberView(space: SpaceRecord, m: MemberRecord): MemberView {
  return {
    space: space.path,
    username: m.username,
    role: m.role,
    createdAt: new Date(m.createdAt).toISOString(),
    updatedAt: new Date(m.updatedAt).toISOString(),
  };
}

export function checkRole(value: unknown): MemberRole {
  if (!isRole(value)) {
    throw new PalletError('INVALID_ARGUMENT', `role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(value)}`, { field: 'role' });
  }
  return value;
}

export class MemberService {
  constructor(
    private readonly identity: IdentityStore,
    private readonly metadata: MetadataStore,
    private readonly onChange: (userId: string) => void,
  ) {}

  async #space(path: string): Promise<SpaceRecord> {
    const space = await this.metadata.findSpace(path);
    if (!space) throw new PalletError('NOT_FOUND', `space "${path}" does not exist`, { path });
    return space;
  }

  async #user(username: string): Promise<{ id: string; username: string }> {
    const user = await this.identity.findUser(username);
    if (!user) throw new PalletError('NOT_FOUND', `user "${username}" does not exist`, { username });
    return user;
  }

  async list(spacePath: string): Promise<MemberView[]> {
    const space = await this.#space(spacePath);
    return (await this.identity.listMembers(space.id)).map((m) => toMemberView(space, m));
  }

  /** The user's direct role on the space, if any. */
  async find(spacePath: string, username: string): Promise<MemberRole | undefined> {
    const space = await this.#space(spacePath);
    const user = await this.identity.findUser(username);
    if (!user) return undefined;
    return (await this.identity.listMemberships(user.id)).find((m) => m.spaceId === space.id)?.role;
  }

  async set(spacePath: string, username: string, role: unknown): Promise<MemberView> {
    const checked = checkRole(role);
    const space = await this.#space(spacePath);
    const user = await this.#user(username);
    const member = await this.identity.setMember(space.id, user.id, checked);
    this.onChange(user.id);
    return toMemberView(space, member);
  }

  async remove(spacePath: string, username: string): Promise<void> {
    const space = await this.#space(spacePath);
    const user = await this.#user(username);
    if (!(await this.identity.removeMember(space.id, user.id))) {
      throw new PalletError('NOT_FOUND', `user "${username}" is not a member of "${spacePath}"`, { username, space: spacePath });
    }
    this.onChange(user.id);
  }
}
