/**
 * JSON schemas of registry cleanup (the policy on PATCH and in the registry view, the run's
 * query and report). A module of their own, with no imports but a type, so that `schemas.ts`
 * can use the policy schema without an import cycle through the routes.
 */
import type { Schema } from './schemas.js';

export const cleanupQuery: Schema = {
  type: 'object',
  properties: { dryRun: { type: 'boolean', default: false, description: 'Report what would be deleted; delete nothing' } },
  additionalProperties: false,
};

export const cleanupReportSchema: Schema = {
  type: 'object',
  required: ['dryRun', 'versions', 'deletedVersions', 'sizeBytes'],
  properties: {
    dryRun: { type: 'boolean', description: 'True when nothing was deleted' },
    versions: {
      type: 'array',
      description: 'Versions deleted (or that would be), by artifact, newest first',
      items: {
        type: 'object',
        required: ['artifact', 'digest', 'tags', 'sizeBytes', 'createdAt'],
        properties: {
          artifact: { type: 'string', description: 'Artifact name' },
          digest: { type: 'string', description: 'Manifest digest' },
          tags: { type: 'array', items: { type: 'string' }, description: 'Tags that pointed at it' },
          sizeBytes: { type: 'integer', description: 'Manifest plus what it references (shared blobs stay)' },
          createdAt: { type: 'string', format: 'date-time', description: 'When it was pushed' },
        },
      },
    },
    deletedVersions: { type: 'integer', description: 'How many versions' },
    sizeBytes: { type: 'integer', description: 'Their total size' },
  },
};

/** A registry's cleanup policy, as PATCH takes it and the registry view shows it. */
export const cleanupPolicySchema: Schema = {
  type: 'object',
  description: 'Cleanup policy: at least one of keepLastVersions and deleteUntaggedOlderThanDays; null on PATCH removes it',
  properties: {
    enabled: { type: 'boolean', description: 'Run on the schedule (default true); on-demand runs ignore it' },
    keepLastVersions: { type: 'integer', minimum: 1, description: 'Keep the N most recently pushed versions of each artifact' },
    deleteUntaggedOlderThanDays: { type: 'integer', minimum: 0, description: 'Delete untagged versions pushed more than D days ago' },
    include: { type: 'array', items: { type: 'string' }, description: 'Only artifacts matching one of these globs (*, **, ?)' },
    exclude: { type: 'array', items: { type: 'string' }, description: 'Never artifacts matching one of these globs' },
  },
  additionalProperties: false,
  // Unknown fields fail instead of being stripped (see `closed` in schemas.ts).
  propertyNames: { enum: ['enabled', 'keepLastVersions', 'deleteUntaggedOlderThanDays', 'include', 'exclude'] },
};
