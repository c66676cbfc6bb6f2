// @ts-check
/**
 * Gives every member of `ErrorCode` and `CloseCode` in the reference its meaning, read from
 * `errorCatalogue` and `closeCatalogue` in packages/protocol/src/codes.ts: the catalogue stays
 * the one source of truth, and a code added there without a meaning fails the strict run.
 */
import ts from "typescript";
import { Comment, Converter, ReflectionKind } from "typedoc";

/** @typedef {{ name: string; meaning: string; temporary?: boolean }} Entry */

/**
 * The entries of an object literal `{ 100: { name: "…", meaning: "…", … }, … }`.
 * @param {ts.ObjectLiteralExpression} literal
 * @returns {Map<number, Entry>}
 */
function readCatalogue(literal) {
  const entries = new Map();
  for (const property of literal.properties) {
    if (!ts.isPropertyAssignment(property) || !ts.isObjectLiteralExpression(property.initializer)) continue;
    /** @type {Record<string, string | boolean>} */
    const fields = {};
    for (const field of property.initializer.properties) {
      if (!ts.isPropertyAssignment(field)) continue;
      const value = field.initializer;
      if (ts.isStringLiteralLike(value)) fields[field.name.getText()] = value.text;
      else if (value.kind === ts.SyntaxKind.TrueKeyword) fields[field.name.getText()] = true;
      else if (value.kind === ts.SyntaxKind.FalseKeyword) fields[field.name.getText()] = false;
    }
    const { name, meaning, temporary } = fields;
    if (typeof name !== "string" || typeof meaning !== "string") continue;
    entries.set(Number(property.name.getText()), {
      name,
      meaning,
      ...(typeof temporary === "boolean" ? { temporary } : {}),
    });
  }
  return entries;
}

/**
 * Finds `const <name> = <object literal>` in any source file of the program.
 * @param {ts.Program} program
 * @param {string} name
 */
function findCatalogue(program, name) {
  for (const file of program.getSourceFiles()) {
    if (!file.fileName.endsWith("/protocol/src/codes.ts")) continue;
    for (const statement of file.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const declaration of statement.declarationList.declarations) {
        if (declaration.name.getText() !== name || declaration.initializer === undefined) continue;
        if (ts.isObjectLiteralExpression(declaration.initializer)) return readCatalogue(declaration.initializer);
      }
    }
  }
  throw new Error(`catalogue-plugin: ${name} not found in packages/protocol/src/codes.ts`);
}

/** @param {Entry} entry */
function describe(entry) {
  const kind = entry.temporary === undefined ? "" : entry.temporary ? " (temporary)" : " (final)";
  return `\`${entry.name}\`${kind}: ${entry.meaning}`;
}

/** @param {import("typedoc").Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const program = context.programs[0];
    if (program === undefined) return;
    const catalogues = { ErrorCode: "errorCatalogue", CloseCode: "closeCatalogue" };
    for (const [variable, catalogueName] of Object.entries(catalogues)) {
      const catalogue = findCatalogue(program, catalogueName);
      // One per module that exports it (`@hubcast/client` and `@hubcast/client/protobuf`).
      for (const owner of context.project.getReflectionsByKind(ReflectionKind.Variable)) {
        if (owner.name !== variable || !("type" in owner) || owner.type?.type !== "reflection") continue;
        for (const member of owner.type.declaration.children ?? []) {
          const value = member.type?.type === "literal" ? Number(member.type.value) : Number.NaN;
          const entry = catalogue.get(value);
          if (entry !== undefined && !member.hasComment()) {
            member.comment = new Comment([{ kind: "text", text: describe(entry) }]);
          }
        }
      }
    }
  });
}
