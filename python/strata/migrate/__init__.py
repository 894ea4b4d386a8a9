"""Migrations compatible with Prisma's: the same DDL, folder layout and history table."""
