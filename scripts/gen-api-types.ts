/**
 * Writes `web/generated/api-types.ts`, the web UI's types of the management API, from the
 * server's OpenAPI document (`openApiDocument()` in src/api/openapi.ts), so the UI's types are
 * the server's schemas and cannot drift from them. Run by `npm run build` (through
 * `build:ui`) and `npm run typecheck`; the output is committed too, so that
 * `npx tsc -p web/tsconfig.json` works before any build, and scripts/test.sh (`--check`) and
 * test/gen-api-types.test.ts fail when it is stale.
 *
 * The document is built without a format list: package types and upstream sources are plain
 * strings, because the UI learns the formats a server serves from `GET /package-types` at run
 * time and names none itself.
 *
 * One type per component schema, and `<OperationId>Body` per request body. The emitter covers
 * the JSON Schema the API uses (type and type arrays, enum, properties/required,
 * additionalProperties, items, $ref, oneOf/anyOf); anything else is `unknown`. No dependency:
 * a general OpenAPI generator brings a dozen packages for the few lines this needs.
 *
 * Usage: node --import tsx scripts/gen-api-types.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openApiDocument } from '../src/api/openapi.js';

type Schema = Record<string, unknown>;

export const OUTPUT = fileURLToPath(new URL('../web/generated/api-types.ts', import.meta.url));

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function comment(text: unknown, indent: string): string {
  if (typeof text !== 'string' || text === '') return '';
  const safe = text.replace(/\*\//g, '*\\/');
  return `${indent}/** ${safe} */\n`;
}

function objectType(schema: Schema, indent: string): string {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const extra = schema.additionalProperties;
  const names = Object.keys(properties);
  const extraType = extra === true || (extra === undefined && names.length === 0) ? 'unknown' : extra && typeof extra === 'object' ? typeOf(extra as Schema, indent) : undefined;
  if (names.length === 0) return `Record<string, ${extraType ?? 'never'}>`;
  const inner = `${indent}  `;
  const lines = names.map((name) => {
    const key = IDENTIFIER.test(name) ? name : JSON.stringify(name);
    return `${comment(properties[name]!.description, inner)}${inner}${key}${required.has(name) ? '' : '?'}: ${typeOf(properties[name]!, inner)};`;
  });
  if (extraType) lines.push(`${inner}[key: string]: ${extraType === 'unknown' ? 'unknown' : `${extraType} | undefined`};`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** The TypeScript type of `schema`, its nested lines indented from `indent`. */
export function typeOf(schema: Schema, indent = ''): string {
  if (typeof schema.$ref === 'string') return schema.$ref.slice(schema.$ref.lastIndexOf('/') + 1);
  const alternatives = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (alternatives) return alternatives.map((s) => typeOf(s, indent)).join(' | ');
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === 'string' ? [schema.type] : [];
  if (Array.isArray(schema.enum)) {
    const values = (schema.enum as unknown[]).map((v) => JSON.stringify(v));
    if (types.includes('null') && !schema.enum.includes(null)) values.push('null');
    return values.join(' | ');
  }
  if (types.length === 0) return schema.properties ? objectType(schema, indent) : 'unknown';
  const out = types.map((t) => {
    switch (t) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array': {
        const item = schema.items ? typeOf(schema.items as Schema, indent) : 'unknown';
        return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
      }
      case 'object':
        return objectType(schema, indent);
      default:
        return 'unknown';
    }
  });
  return out.join(' | ');
}

const pascal = (id: string): string => id.charAt(0).toUpperCase() + id.slice(1);

/** The text of `web/generated/api-types.ts` for the current server schemas. */
export function generateApiTypes(): string {
  const doc = openApiDocument();
  const schemas = (doc.components as { schemas: Record<string, Schema> }).schemas;
  const parts: string[] = [
    '/**\n' +
      ' * The management API\'s types, GENERATED from the server\'s OpenAPI document by\n' +
      ' * scripts/gen-api-types.ts (`npm run gen:api-types`): do not edit.\n' +
      ' */\n',
  ];
  for (const [name, schema] of Object.entries(schemas)) {
    parts.push(`${comment(schema.description, '')}export type ${name} = ${typeOf(schema)};\n`);
  }
  for (const item of Object.values(doc.paths as Record<string, Record<string, Schema>>)) {
    for (const operation of Object.values(item)) {
      const body = (operation.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)?.content?.['application/json']?.schema;
      if (body) parts.push(`/** The body of ${String(operation.operationId)}: ${String(operation.summary)}. */\nexport type ${pascal(String(operation.operationId))}Body = ${typeOf(body)};\n`);
    }
  }
  return parts.join('\n');
}

function main(): void {
  const text = generateApiTypes();
  let current: string | undefined;
  try {
    current = readFileSync(OUTPUT, 'utf8');
  } catch {
    current = undefined;
  }
  if (process.argv.includes('--check')) {
    if (current !== text) {
      process.stderr.write(`${OUTPUT} is stale: run npm run gen:api-types\n`);
      process.exit(1);
    }
    return;
  }
  // Unchanged: leave the file (and its mtime, which the UI tests' build check reads) alone.
  if (current !== text) writeFileSync(OUTPUT, text);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
