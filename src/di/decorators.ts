import 'reflect-metadata';
import { inject } from 'inversify';
import { isPoolClass, type ConnectionPoolManager } from '../core/connection-pool-manager';
import { INJECTED_POOL } from '../core/managed-server';
import { isConfigClass, type ConfigClass } from '../config/validate-config';
import { DecoratorError } from '../errors';
import type { SectionName, UnipoolSections } from './sections';
import { CONFIG_SECTION_METADATA, POOL_CONFIG_METADATA, USE_POOL_METADATA, configToken } from './tokens';

/** One `@PoolConfig` parameter, as recorded on the class. */
export interface PoolConfigParameter {
  index: number;
  section: string;
  configClass: ConfigClass;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyArgs = any[];
/** A class whose instances are `I`. */
type ClassOf<I> = abstract new (...args: AnyArgs) => I;
/** A pool class `@UsePool` accepts: a `ConnectionPoolManager` subclass. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PoolClass = ClassOf<ConnectionPoolManager<any, any>>;

/** The pool type a server class declares (`HttpServer<MyPool>` declares `MyPool`). */
type DeclaredPool<S extends ClassOf<object>> = InstanceType<S> extends { readonly pool: infer P } ? P : never;
/** The config type a class declares (`unknown` for a class without `config`: a provider). */
type DeclaredConfig<S extends ClassOf<object>> = InstanceType<S> extends { readonly config: infer C } ? C : unknown;
/**
 * `unknown` when the injected pool has every member of the pool the server declares, else a type
 * naming the missing ones. (With `S extends ClassOf<{ pool: Pool }>` this makes the two the same
 * pool type; members only, so a config subclass, `HttpConnectionPool<MyConfig>`, still fits.)
 */
type PoolFits<S extends ClassOf<object>, Pool> = [Exclude<keyof DeclaredPool<S>, keyof Pool>] extends [never]
  ? unknown
  : { '@UsePool: this pool class lacks members of the pool type the server declares': Exclude<keyof DeclaredPool<S>, keyof Pool> };
/** `unknown` when the injected config fits the config the class declares, else a type naming the mismatch. */
type ConfigFits<S extends ClassOf<object>, Config> = [Config] extends [DeclaredConfig<S>]
  ? unknown
  : { "@PoolConfig/@UsePool: the section's config class does not fit this server's config": DeclaredConfig<S> };

/**
 * `@UsePool(Pool)` as TypeScript checks it: the server must declare `Pool` as its pool
 * (`HttpServer` declares `HttpConnectionPool`, `HttpServer<MyPool>` declares `MyPool`), and a
 * section named at class level must fit the server's config.
 */
export type ServerDecorator<Pool, Config> = <S extends ClassOf<{ readonly pool: Pool }>>(target: S & PoolFits<S, Pool> & ConfigFits<S, Config>) => void;
/** `@PoolConfig(ConfigClass, 'section')` as TypeScript checks it: a constructor parameter of a class whose config it fits. */
export type ConfigParameterDecorator<Config> = <T extends ClassOf<object>>(target: T & ConfigFits<T, Config>, propertyKey: undefined, parameterIndex: number) => void;

function describe(value: unknown): string {
  if (typeof value === 'function') return `class ${value.name || '(anonymous)'}`;
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

const SECTION_NAME = /^[a-z][a-zA-Z0-9]*$/;

function checkSectionName(section: unknown, decorator: string): asserts section is string {
  if (typeof section !== 'string' || !SECTION_NAME.test(section)) {
    throw new DecoratorError(`${decorator} expects a section name such as 'http', got ${describe(section)}`);
  }
}

/**
 * Class decorator for servers: the container injects the singleton of `poolClass` into the
 * server's `pool` property, right after the constructor (so `pool` is there from `onInit` on).
 * Servers that name the same pool class share one instance; a test can rebind the class to a
 * fake before `start()`.
 *
 * A server whose constructor has no `@PoolConfig` parameter gets its config section as its first
 * constructor argument, so a server that only forwards its config needs no constructor: the
 * section is `section` when given (`@UsePool(HttpConnectionPool, 'internal')`), else its
 * protocol's (`http` for an `HttpServer`), validated as that section's config class.
 */
export function UsePool<P extends PoolClass>(poolClass: P): ServerDecorator<InstanceType<P>, never>;
export function UsePool<P extends PoolClass, K extends SectionName>(poolClass: P, section: K): ServerDecorator<InstanceType<P>, UnipoolSections[K]>;
export function UsePool(poolClass: unknown, section?: unknown): ClassDecorator {
  if (!isPoolClass(poolClass)) {
    throw new DecoratorError(`@UsePool expects a pool class (a subclass of ConnectionPoolManager), got ${describe(poolClass)}`);
  }
  if (section !== undefined) checkSectionName(section, `@UsePool(${poolClass.name}, ...)`);
  return (target) => {
    Reflect.defineMetadata(USE_POOL_METADATA, poolClass, target);
    inject(poolClass)(target.prototype, INJECTED_POOL);
    const params = poolConfigParameters(target);
    if (params.length) {
      const other = params.find((p) => p.section !== section);
      if (section !== undefined && other) {
        throw new DecoratorError(`${target.name}: @UsePool(${poolClass.name}, '${section}') and @PoolConfig(${other.configClass.name}, '${other.section}') name different sections`);
      }
      return;
    }
    const bound = section ?? (target as { configSection?: unknown }).configSection;
    if (typeof bound !== 'string') return; // the application reports a server without a section
    Reflect.defineMetadata(CONFIG_SECTION_METADATA, bound, target);
    inject(configToken(bound))(target, undefined, 0);
  };
}

/**
 * Parameter decorator for a server's constructor: injects the validated config `section`
 * (e.g. `'http'`) as an instance of `configClass`. Sections of your own are declared in
 * `UnipoolSections` (for the types) and given to `createApp({ sections })`.
 */
export function PoolConfig<K extends SectionName, X extends UnipoolSections[K]>(configClass: ConfigClass<X>, section: K): ConfigParameterDecorator<X>;
export function PoolConfig(configClass: unknown, section: unknown): ParameterDecorator {
  if (!isConfigClass(configClass)) {
    throw new DecoratorError(`@PoolConfig expects a config class with class-validator decorators, got ${describe(configClass)}`);
  }
  checkSectionName(section, `@PoolConfig(${configClass.name}, ...)`);
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

/** The section `@UsePool` passes as the first constructor argument of a server without a `@PoolConfig` parameter, if any. */
export function classConfigSection(serverClass: object): string | undefined {
  return Reflect.getMetadata(CONFIG_SECTION_METADATA, serverClass) as string | undefined;
}

/** The section a server class reads: its `@PoolConfig` parameter's, else its class-level one. */
export function configSectionOf(serverClass: object): string | undefined {
  return poolConfigParameters(serverClass)[0]?.section ?? classConfigSection(serverClass);
}
