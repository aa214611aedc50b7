import { Migration } from '@mikro-orm/migrations';

/**
 * Indexes for the read API at size (issue 10 item 5).
 *
 * sentiment_rollup_series_index: the primary key's columns plus every other column, so a
 * series (one entity, 90 days of hours = 2,160 rows) is an index-only scan of ~30 adjacent
 * leaf pages. Through the primary key it read one heap page per row: refresh writes an hour
 * for every entity together, so one entity's rows are scattered over the heap.
 *
 * article_entity (entity_id, published_at, article_id): the article listing walks it
 * backwards, newest first, and its keyset cursor (published_at, article_id) < (…) is an index
 * condition, so a page reads `limit` entries in order with no sort. It replaces
 * (entity_id, published_at), whose every use (rollup range scans) it also serves; it is built
 * before the old one is dropped.
 */
export class Migration20261202061000_read_api_indexes extends Migration {

  override name = 'Migration20261202061000_read_api_indexes';

  override up(): void | Promise<void> {
    this.addSql(`create index "sentiment_rollup_series_index" on "sentiment_rollup" ("entity_id", "granularity", "bucket_start") include ("article_count", "sentiment_sum", "sentiment_sumsq", "sentiment_min", "sentiment_max", "sentiment_mean", "sentiment_stddev", "positive_count", "neutral_count", "negative_count", "trend_mentions", "updated_at");`);
    this.addSql(`create index "article_entity_entity_id_published_at_article_id_index" on "article_entity" ("entity_id", "published_at", "article_id");`);
    this.addSql(`drop index "article_entity_entity_id_published_at_index";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create index "article_entity_entity_id_published_at_index" on "article_entity" ("entity_id", "published_at");`);
    this.addSql(`drop index "article_entity_entity_id_published_at_article_id_index";`);
    this.addSql(`drop index "sentiment_rollup_series_index";`);
  }

}
