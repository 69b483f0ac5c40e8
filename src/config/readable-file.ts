import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { registerDecorator, type ValidationArguments, type ValidationOptions } from 'class-validator';
import { PEM_BLOCK } from '../errors';

/** Longest path accepted for a file setting; anything longer is contents given in place of a path. */
const MAX_PATH_LENGTH = 1024;

/** Why `value` is not the path of a readable file (`what` names the file in the message), or undefined if it is. */
export function fileProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string') return `must be the path of the ${what} file (a string)`;
  if (value.length === 0) return `is required: the path of the ${what} file`;
  if (PEM_BLOCK.test(value)) return `must be the path of the ${what} file, not its PEM text`;
  // Not a path but contents (a key without its armour lines, say): never echoed.
  if (/[\r\n]/.test(value) || value.length > MAX_PATH_LENGTH) return `must be the path of the ${what} file (one line, at most ${MAX_PATH_LENGTH} characters), not its contents`;
  const path = resolve(value);
  try {
    if (!statSync(path).isFile()) return `${what} file ${path} is not a regular file`;
    accessSync(path, constants.R_OK);
  } catch (err) {
    return `cannot read ${what} file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return undefined;
}

/**
 * The property must be the path of a readable regular file. Checked with the other rules, so a
 * missing certificate is listed together with every other config problem.
 */
export function IsReadableFile(what: string, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isReadableFile',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => fileProblem(value, what) === undefined,
        defaultMessage: (args?: ValidationArguments) => fileProblem(args?.value, what) ?? `must be the path of the ${what} file`,
      },
    });
  };
}
