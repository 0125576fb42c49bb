/**
 * Response schema maps for routes: the success schema plus the error shape for 4xx/5xx, so
 * the OpenAPI document and the serializer agree on both.
 */
import { errorSchema, type Schema } from './schemas.js';

export const errorResponses: Record<string, Schema> = { '4xx': errorSchema, '5xx': errorSchema };

export function withErrors(success: Record<number, Schema>): Record<string, Schema> {
  return { ...success, ...errorResponses };
}
