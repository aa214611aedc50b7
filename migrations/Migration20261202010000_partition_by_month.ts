import { Migration } from '@mikro-orm/migrations';

/**
 * Time-partitioned storage (issue 9 item 4). `article`, `article_entity` and `job_run` become
 * range-partitioned by month on their time column, converted in place: the old tables are
 * renamed, the partitioned ones created under the old names, every row copied across
 * (ids kept, sequences handed over), the old tables dropped — inside the migration's one
 * transaction, so a failure leaves the database as it was.
 *
 * A unique key on a partitioned table must contain the partition column, so the two
 * deduplication keys of an article (`url_key`, and `(source_id, external_id)`) move to the
 * unpartitioned `article_key`, which persist inserts into first (ON CONFLICT DO NOTHING) and
 * which stays exact across partitions. Primary keys gain the partition column
 * (`(id, published_at)`, `(article_id, published_at, entity_id)`, `(id, started_at)`): ids
 * stay unique through their sequences.
 *
 * Partitions are named `<table>_YYYY_MM` (UTC months). The migration makes every month that
 * holds data, from last month (or the oldest row) through three months ahead; later the `partitions` maintenance job (and persist,
 * for a month without its partition yet) make them with src/db/partitions.ts. Retention drops
 * whole months (src/rollup/prune.ts).
 *
 * Also (issue 17 item 7): the index duplicating sentiment_rollup's primary key columns is
 * dropped; a backward scan of the primary key serves "latest buckets first".
 */
/**
 * A DO block creating the month partitions of `parent` covering [fromSql, toSql) (SQL
 * expressions). An anonymous block, not a stored function, so the schema holds nothing
 * MikroORM's diff would want to drop; src/db/partitions.ts does the same at run time.
 */
function ensureMonths(parent: string, fromSql: string, toSql: string): string {
  return `do $do$
declare
  -- Month starts as UTC wall time: timestamp (no zone) arithmetic cannot be moved by DST.
  m timestamp := date_trunc('month', (${fromSql}) at time zone 'UTC');
  stop timestamp := (${toSql}) at time zone 'UTC';
begin
  while m < stop loop
    execute format('create table if not exists %I partition of %I for values from (%L) to (%L)',
                   '${parent}_' || to_char(m, 'YYYY_MM'), '${parent}', (m at time zone 'UTC'), ((m + interval '1 month') at time zone 'UTC'));
    m := m + interval '1 month';
  end loop;
end
$do$;`;
}

export class Migration20261202010000_partition_by_month extends Migration {

  override name = 'Migration20261202010000_partition_by_month';

  override up(): void | Promise<void> {
    // Writers wait (instead of failing) while the tables are swapped.
    this.addSql(`lock table "article", "article_entity", "job_run" in access exclusive mode;`);

    // 1. Old tables out of the way: renamed, their constraint/index names freed, sequences kept.
    this.addSql(`alter table "article_entity" rename to "article_entity_unpartitioned";`);
    this.addSql(`alter table "article" rename to "article_unpartitioned";`);
    this.addSql(`alter table "job_run" rename to "job_run_unpartitioned";`);
    this.addSql(`alter table "article_entity_unpartitioned" drop constraint "article_entity_article_id_foreign", drop constraint "article_entity_entity_id_foreign", drop constraint "article_entity_pkey";`);
    this.addSql(`drop index "article_entity_entity_id_published_at_index";`);
    this.addSql(`alter table "article_unpartitioned" drop constraint "article_source_id_foreign", drop constraint "article_url_key_unique", drop constraint "article_source_id_external_id_unique", drop constraint "article_pkey";`);
    this.addSql(`drop index "article_published_at_index";`);
    this.addSql(`alter table "job_run_unpartitioned" drop constraint "job_run_pkey";`);
    this.addSql(`drop index "job_run_started_at_index", "job_run_source_id_started_at_index", "job_run_status_index";`);
    this.addSql(`alter sequence "article_id_seq" owned by none;`);
    this.addSql(`alter sequence "job_run_id_seq" owned by none;`);

    // 2. The partitioned tables, same columns and names as before.
    this.addSql(`create table "article" ("id" bigint not null default nextval('article_id_seq'), "source_id" varchar(255) not null, "external_id" text not null, "url" text null, "url_key" text null, "title" text not null, "summary" text null, "author" text null, "language" text null, "published_at" timestamptz not null, "fetched_at" timestamptz not null, "sentiment" double precision not null, "scorer" text not null, primary key ("id", "published_at")) partition by range ("published_at");`);
    this.addSql(`alter sequence "article_id_seq" owned by "article"."id";`);
    this.addSql(`create index "article_published_at_index" on "article" ("published_at");`);
    this.addSql(`alter table "article" add constraint "article_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);
    this.addSql(`alter table "article" add constraint "article_source_id_foreign" foreign key ("source_id") references "source" ("id") on delete cascade;`);

    this.addSql(`create table "article_entity" ("article_id" bigint not null, "entity_id" int not null, "published_at" timestamptz not null, "sentiment" double precision not null, primary key ("article_id", "published_at", "entity_id")) partition by range ("published_at");`);
    this.addSql(`create index "article_entity_entity_id_published_at_index" on "article_entity" ("entity_id", "published_at");`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_article_id_published_at_foreign" foreign key ("article_id", "published_at") references "article" ("id", "published_at") on update cascade on delete cascade;`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on update cascade on delete cascade;`);

    this.addSql(`create table "job_run" ("id" bigint not null default nextval('job_run_id_seq'), "queue" text not null, "job_name" text not null, "job_id" text null, "source_id" text null, "attempt" int not null, "status" text not null, "started_at" timestamptz not null, "finished_at" timestamptz null, "duration_ms" int null, "stats" jsonb null, "error" text null, primary key ("id", "started_at")) partition by range ("started_at");`);
    this.addSql(`alter sequence "job_run_id_seq" owned by "job_run"."id";`);
    this.addSql(`create index "job_run_started_at_index" on "job_run" ("started_at");`);
    this.addSql(`create index "job_run_source_id_started_at_index" on "job_run" ("source_id", "started_at");`);
    this.addSql(`create index "job_run_status_index" on "job_run" ("status") where "status" = 'running';`);
    this.addSql(`alter table "job_run_unpartitioned" drop constraint "job_run_status_check";`);
    this.addSql(`alter table "job_run" add constraint "job_run_status_check" check ("status" in ('running', 'completed', 'failed', 'abandoned'));`);

    // 3. The deduplication keys, global and unpartitioned. article_id/published_at locate the
    //    article (partition pruning) without a foreign key, so dropping a month never has to
    //    check or cascade into this table; prune removes expired keys itself.
    this.addSql(`create table "article_key" ("source_id" varchar(255) not null, "external_id" text not null, "url_key" text null, "article_id" bigint not null, "published_at" timestamptz not null, primary key ("source_id", "external_id"));`);
    this.addSql(`alter table "article_key" add constraint "article_key_url_key_unique" unique ("url_key");`);
    this.addSql(`create index "article_key_published_at_index" on "article_key" ("published_at");`);
    this.addSql(`alter table "article_key" add constraint "article_key_source_id_foreign" foreign key ("source_id") references "source" ("id") on delete cascade;`);

    // 4. Partitions for every month that holds data, through two months ahead; then the rows.
    for (const [table, column] of [['article', 'published_at'], ['article_entity', 'published_at'], ['job_run', 'started_at']] as const) {
      this.addSql(ensureMonths(table,
        `least(now() - interval '1 month', (select min("${column}") from "${table}_unpartitioned"))`,
        `greatest(now() + interval '3 months', (select max("${column}") + interval '1 second' from "${table}_unpartitioned"))`));
    }
    this.addSql(`insert into "article" select * from "article_unpartitioned";`);
    this.addSql(`insert into "article_key" ("source_id", "external_id", "url_key", "article_id", "published_at") select "source_id", "external_id", "url_key", "id", "published_at" from "article_unpartitioned";`);
    this.addSql(`insert into "article_entity" select * from "article_entity_unpartitioned";`);
    this.addSql(`insert into "job_run" select * from "job_run_unpartitioned";`);
    this.addSql(`drop table "article_entity_unpartitioned", "article_unpartitioned", "job_run_unpartitioned";`);

    this.addSql(`drop index "sentiment_rollup_entity_granularity_bucket_desc_index";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`lock table "article", "article_entity", "job_run" in access exclusive mode;`);
    this.addSql(`create index "sentiment_rollup_entity_granularity_bucket_desc_index" on "sentiment_rollup" ("entity_id", "granularity", "bucket_start" DESC);`);

    this.addSql(`alter table "article_entity" rename to "article_entity_partitioned";`);
    this.addSql(`alter table "article" rename to "article_partitioned";`);
    this.addSql(`alter table "job_run" rename to "job_run_partitioned";`);
    this.addSql(`alter table "article_entity_partitioned" drop constraint "article_entity_article_id_published_at_foreign", drop constraint "article_entity_entity_id_foreign", drop constraint "article_entity_pkey";`);
    this.addSql(`drop index "article_entity_entity_id_published_at_index";`);
    this.addSql(`alter table "article_partitioned" drop constraint "article_source_id_foreign", drop constraint "article_pkey";`);
    this.addSql(`drop index "article_published_at_index";`);
    this.addSql(`alter table "job_run_partitioned" drop constraint "job_run_pkey";`);
    this.addSql(`drop index "job_run_started_at_index", "job_run_source_id_started_at_index", "job_run_status_index";`);
    this.addSql(`alter sequence "article_id_seq" owned by none;`);
    this.addSql(`alter sequence "job_run_id_seq" owned by none;`);

    this.addSql(`create table "article" ("id" bigint not null default nextval('article_id_seq') primary key, "source_id" varchar(255) not null, "external_id" text not null, "url" text null, "url_key" text null, "title" text not null, "summary" text null, "author" text null, "language" text null, "published_at" timestamptz not null, "fetched_at" timestamptz not null, "sentiment" double precision not null, "scorer" text not null);`);
    this.addSql(`alter sequence "article_id_seq" owned by "article"."id";`);
    this.addSql(`insert into "article" select * from "article_partitioned";`);
    this.addSql(`alter table "article" add constraint "article_url_key_unique" unique ("url_key");`);
    this.addSql(`create index "article_published_at_index" on "article" ("published_at");`);
    this.addSql(`alter table "article" add constraint "article_source_id_external_id_unique" unique ("source_id", "external_id");`);
    this.addSql(`alter table "article" add constraint "article_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);
    this.addSql(`alter table "article" add constraint "article_source_id_foreign" foreign key ("source_id") references "source" ("id") on delete cascade;`);

    this.addSql(`create table "article_entity" ("article_id" bigint not null, "entity_id" int not null, "published_at" timestamptz not null, "sentiment" double precision not null, primary key ("article_id", "entity_id"));`);
    this.addSql(`insert into "article_entity" select * from "article_entity_partitioned";`);
    this.addSql(`create index "article_entity_entity_id_published_at_index" on "article_entity" ("entity_id", "published_at");`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_article_id_foreign" foreign key ("article_id") references "article" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on update cascade on delete cascade;`);

    this.addSql(`create table "job_run" ("id" bigint not null default nextval('job_run_id_seq') primary key, "queue" text not null, "job_name" text not null, "job_id" text null, "source_id" text null, "attempt" int not null, "status" text not null, "started_at" timestamptz not null, "finished_at" timestamptz null, "duration_ms" int null, "stats" jsonb null, "error" text null);`);
    this.addSql(`alter sequence "job_run_id_seq" owned by "job_run"."id";`);
    this.addSql(`insert into "job_run" select * from "job_run_partitioned";`);
    this.addSql(`create index "job_run_started_at_index" on "job_run" ("started_at");`);
    this.addSql(`create index "job_run_source_id_started_at_index" on "job_run" ("source_id", "started_at");`);
    this.addSql(`create index "job_run_status_index" on "job_run" ("status") where "status" = 'running';`);
    this.addSql(`alter table "job_run_partitioned" drop constraint "job_run_status_check";`);
    this.addSql(`alter table "job_run" add constraint "job_run_status_check" check ("status" in ('running', 'completed', 'failed', 'abandoned'));`);

    this.addSql(`drop table "article_entity_partitioned", "article_partitioned", "job_run_partitioned", "article_key";`);
  }

}
