import { Migration } from '@mikro-orm/migrations';

/**
 * rollup_dirty marks carry an insert-only delta (issue 17): a mark written by ingest holds the
 * aggregates of the links it added (count, sum, sum of squares, M2, min, max, class counts,
 * trend mentions), and `recompute` stays false, so a refresh merges the delta into the stored
 * hour instead of re-reading the hour's articles. Any other writer (rescore, a rebuild that
 * overlapped the mark, hand-written marks) leaves or sets `recompute` true: the hour is then
 * recomputed exactly, as before. The default is true, so existing marks keep their meaning.
 */
export class Migration20261202060000_rollup_delta_marks extends Migration {

  override name = 'Migration20261202060000_rollup_delta_marks';

  override up(): void | Promise<void> {
    this.addSql(`alter table "rollup_dirty"
      add column "recompute" boolean not null default true,
      add column "delta_count" int not null default 0,
      add column "delta_sum" double precision not null default 0,
      add column "delta_sumsq" double precision not null default 0,
      add column "delta_m2" double precision not null default 0,
      add column "delta_min" double precision null,
      add column "delta_max" double precision null,
      add column "delta_positive" int not null default 0,
      add column "delta_neutral" int not null default 0,
      add column "delta_negative" int not null default 0,
      add column "delta_trends" int not null default 0;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "rollup_dirty"
      drop column "recompute", drop column "delta_count", drop column "delta_sum", drop column "delta_sumsq",
      drop column "delta_m2", drop column "delta_min", drop column "delta_max", drop column "delta_positive",
      drop column "delta_neutral", drop column "delta_negative", drop column "delta_trends";`);
  }

}
