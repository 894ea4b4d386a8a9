"""The Prisma schema: parsing, formatting, validation and the resolved IR."""
