import { Migration } from '@mikro-orm/migrations';

/** Read-side API keys: hashes only (the key itself is shown once by `npm run keys -- create`). */
export class Migration20261202030000_api_key extends Migration {

  override name = 'Migration20261202030000_api_key';

  override up(): void | Promise<void> {
    this.addSql(`create table "api_key" ("id" serial primary key, "name" text not null, "prefix" text not null, "hash" text not null, "created_at" timestamptz not null default now(), "revoked_at" timestamptz null);`);
    this.addSql(`alter table "api_key" add constraint "api_key_hash_unique" unique ("hash");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "api_key" cascade;`);
  }

}
