-- migration: warehouses made before load ids were recorded gain the column (null: unknown load)
alter table daily_load add column if not exists load_id varchar
