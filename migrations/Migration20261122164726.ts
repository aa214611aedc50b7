import { Migration } from '@mikro-orm/migrations';

export class Migration20261122164726 extends Migration {

  override name = 'Migration20261122164726';

  override up(): void | Promise<void> {
    this.addSql(`create table "entity" ("id" serial primary key, "slug" varchar(255) not null, "name" text not null, "aliases" text[] not null default '{}', "category" text null, "case_sensitive" boolean not null default true, "require_any" text[] not null default '{}', "exclude" text[] not null default '{}', "enabled" boolean not null default true);`);
    this.addSql(`alter table "entity" add constraint "entity_slug_unique" unique ("slug");`);

    this.addSql(`create table "job_run" ("id" bigserial primary key, "queue" text not null, "job_name" text not null, "job_id" text null, "source_id" text null, "attempt" int not null, "status" text not null, "started_at" timestamptz not null, "finished_at" timestamptz null, "duration_ms" int null, "stats" jsonb null, "error" text null);`);
    this.addSql(`create index "job_run_started_at_index" on "job_run" ("started_at");`);
    this.addSql(`create index "job_run_source_id_started_at_index" on "job_run" ("source_id", "started_at");`);
    this.addSql(`create index "job_run_status_index" on "job_run" ("status") where "status" = 'running';`);
    this.addSql(`alter table "job_run" add constraint "job_run_status_check" check ("status" in ('running', 'completed', 'failed', 'abandoned'));`);

    this.addSql(`create table "rollup_dirty" ("entity_id" int not null, "hour_start" timestamptz not null, "marked_at" timestamptz not null default clock_timestamp(), primary key ("entity_id", "hour_start"));`);

    this.addSql(`create table "sentiment_rollup" ("entity_id" int not null, "granularity" text not null, "bucket_start" timestamptz not null, "article_count" int not null, "sentiment_sum" double precision not null, "sentiment_sumsq" double precision not null, "sentiment_min" double precision null, "sentiment_max" double precision null, "sentiment_mean" double precision null, "sentiment_stddev" double precision null, "positive_count" int not null, "neutral_count" int not null, "negative_count" int not null, "trend_mentions" int not null, "updated_at" timestamptz not null, primary key ("entity_id", "granularity", "bucket_start"));`);
    this.addSql(`create index "sentiment_rollup_entity_granularity_bucket_desc_index" on "sentiment_rollup" ("entity_id", "granularity", "bucket_start" DESC);`);
    this.addSql(`alter table "sentiment_rollup" add constraint "sentiment_rollup_granularity_check" check ("granularity" in ('hour', 'day'));`);

    this.addSql(`create table "source" ("id" varchar(255) not null, "kind" text not null, "url" text null, "query" text null, "every_ms" int null, "pattern" text null, "tz" text null, "enabled" boolean not null default true, "etag" text null, "last_modified" text null, "last_fetched_at" timestamptz null, "last_success_at" timestamptz null, "consecutive_failures" int not null default 0, "last_error" text null, "backoff_until" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("id"));`);
    this.addSql(`alter table "source" add constraint "source_kind_check" check ("kind" in ('feed', 'gdelt', 'hn', 'google-trends'));`);

    this.addSql(`create table "article" ("id" bigserial primary key, "source_id" varchar(255) not null, "external_id" text not null, "url" text null, "url_key" text null, "title" text not null, "summary" text null, "author" text null, "language" text null, "published_at" timestamptz not null, "fetched_at" timestamptz not null, "sentiment" double precision not null, "scorer" text not null);`);
    this.addSql(`alter table "article" add constraint "article_url_key_unique" unique ("url_key");`);
    this.addSql(`create index "article_published_at_index" on "article" ("published_at");`);
    this.addSql(`alter table "article" add constraint "article_source_id_external_id_unique" unique ("source_id", "external_id");`);
    this.addSql(`alter table "article" add constraint "article_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);

    this.addSql(`create table "article_entity" ("article_id" bigint not null, "entity_id" int not null, "published_at" timestamptz not null, "sentiment" double precision not null, primary key ("article_id", "entity_id"));`);
    this.addSql(`create index "article_entity_entity_id_published_at_index" on "article_entity" ("entity_id", "published_at");`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_sentiment_check" check (sentiment >= '-1'::double precision and sentiment <= '1'::double precision);`);

    this.addSql(`create table "trend" ("id" bigserial primary key, "source_id" varchar(255) not null, "key" text not null, "title" text not null, "url" text null, "rank" int not null, "score" double precision null, "observed_at" timestamptz not null);`);
    this.addSql(`create index "trend_observed_at_index" on "trend" ("observed_at");`);
    this.addSql(`alter table "trend" add constraint "trend_source_id_key_observed_at_unique" unique ("source_id", "key", "observed_at");`);

    this.addSql(`create table "trend_entity" ("trend_id" bigint not null, "entity_id" int not null, "observed_at" timestamptz not null, primary key ("trend_id", "entity_id"));`);
    this.addSql(`create index "trend_entity_entity_id_observed_at_index" on "trend_entity" ("entity_id", "observed_at");`);

    this.addSql(`alter table "rollup_dirty" add constraint "rollup_dirty_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on delete cascade;`);

    this.addSql(`alter table "sentiment_rollup" add constraint "sentiment_rollup_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on delete cascade;`);

    this.addSql(`alter table "article" add constraint "article_source_id_foreign" foreign key ("source_id") references "source" ("id") on delete cascade;`);

    this.addSql(`alter table "article_entity" add constraint "article_entity_article_id_foreign" foreign key ("article_id") references "article" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "article_entity" add constraint "article_entity_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "trend" add constraint "trend_source_id_foreign" foreign key ("source_id") references "source" ("id") on delete cascade;`);

    this.addSql(`alter table "trend_entity" add constraint "trend_entity_trend_id_foreign" foreign key ("trend_id") references "trend" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "trend_entity" add constraint "trend_entity_entity_id_foreign" foreign key ("entity_id") references "entity" ("id") on update cascade on delete cascade;`);
  }

}
