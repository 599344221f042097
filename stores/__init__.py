"""What persists: model files (and their checksums), conversation threads."""
