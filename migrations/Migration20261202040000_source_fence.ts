import { Migration } from '@mikro-orm/migrations';

/** source.fence: the fencing token of the last fetch that committed (fetch leases live in Redis). */
export class Migration20261202040000_source_fence extends Migration {

  override name = 'Migration20261202040000_source_fence';

  override up(): void | Promise<void> {
    this.addSql(`alter table "source" add column "fence" bigint not null default '0';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "source" drop column "fence";`);
  }

}
