import { Migration } from '@mikro-orm/migrations';

/**
 * article_entity.scorer: links carry their own (entity-targeted) sentiment since vader-news@2,
 * so each link names the scorer that produced it. Existing links were copies of their
 * article's score, so they take the article's scorer.
 */
export class Migration20261202020000_article_entity_scorer extends Migration {

  override name = 'Migration20261202020000_article_entity_scorer';

  override up(): void | Promise<void> {
    this.addSql(`alter table "article_entity" add column "scorer" text null;`);
    this.addSql(`update "article_entity" ae set "scorer" = a."scorer" from "article" a where a."id" = ae."article_id" and a."published_at" = ae."published_at";`);
    this.addSql(`alter table "article_entity" alter column "scorer" set not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "article_entity" drop column "scorer";`);
  }

}
