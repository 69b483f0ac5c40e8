import 'reflect-metadata';
import { inject } from 'inversify';
import { isPoolClass } from '../core/connection-pool-manager';
import { INJECTED_POOL } from '../core/managed-server';
import { isConfigClass, type ConfigClass } from '../config/validate-config';
import { DecoratorError } from '../errors';
import { POOL_CONFIG_METADATA, USE_POOL_METADATA, configToken } from './tokens';

/** One `@PoolConfig` parameter, as recorded on the class. */
export interface PoolConfigParameter {
  index: number;
  section: string;
  configClass: ConfigClass;
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `class ${value.name || '(anonymous)'}`;
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

const SECTION_NAME = /^[a-z][a-zA-Z0-9]*$/;

/**
 * Class decorator for servers: the container injects the singleton of `poolClass` into the
 * server's `pool` property, right after the constructor (so `pool` is there from `onInit` on). Servers that name the same pool class share one instance; a test
 * can rebind the class to a fake before `start()`.
 */
export function UsePool(poolClass: unknown): ClassDecorator {
  if (!isPoolClass(poolClass)) {
    throw new DecoratorError(`@UsePool expects a pool class (a subclass of ConnectionPoolManager), got ${describe(poolClass)}`);
  }
  return (target) => {
    Reflect.defineMetadata(USE_POOL_METADATA, poolClass, target);
    inject(poolClass)(target.prototype, INJECTED_POOL);
  };
}

/**
 * Parameter decorator for a server's constructor: injects the validated config `section`
 * (e.g. `'http'`) as an instance of `configClass`.
 */
export function PoolConfig(configClass: unknown, section: string): ParameterDecorator {
  if (!isConfigClass(configClass)) {
    throw new DecoratorError(`@PoolConfig expects a config class with class-validator decorators, got ${describe(configClass)}`);
  }
  if (typeof section !== 'string' || !SECTION_NAME.test(section)) {
    throw new DecoratorError(`@PoolConfig(${configClass.name}, ...) expects a section name such as 'http', got ${describe(section)}`);
  }
  return (target, propertyKey, index) => {
    if (propertyKey !== undefined) {
      throw new DecoratorError(`@PoolConfig(${configClass.name}, '${section}') goes on a constructor parameter, not on method ${String(propertyKey)}`);
    }
    const list: PoolConfigParameter[] = [...((Reflect.getOwnMetadata(POOL_CONFIG_METADATA, target) as PoolConfigParameter[] | undefined) ?? [])];
    list.push({ index, section, configClass });
    Reflect.defineMetadata(POOL_CONFIG_METADATA, list, target);
    inject(configToken(section))(target, propertyKey, index);
  };
}

/** The pool class a server class names with `@UsePool`, if any. */
export function usedPool(serverClass: object): (abstract new (...args: never[]) => unknown) | undefined {
  return Reflect.getMetadata(USE_POOL_METADATA, serverClass) as (abstract new (...args: never[]) => unknown) | undefined;
}

/** The `@PoolConfig` parameters of a class's constructor (its own or inherited). */
export function poolConfigParameters(serverClass: object): PoolConfigParameter[] {
  return (Reflect.getMetadata(POOL_CONFIG_METADATA, serverClass) as PoolConfigParameter[] | undefined) ?? [];
}
