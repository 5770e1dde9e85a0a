"""The recorder's ``qihang`` subcommands (REC-1, REC-3), registered by server/cli.py.

    qihang verify-recording LESSON_ID [--quick] [--public-key HEX] [--json]
    qihang backup [--out DIR] [--pg-dump]
    qihang verify-backup ARCHIVE [--public-key HEX] [--previous-dir DIR] [--no-chain | --whole-chain]
    qihang restore ARCHIVE --data-dir DIR [--database-url URL] [--secret-key-file F] [--signing-key-file F]
                   [--public-key HEX]
    qihang public-key

Exit status: 0 intact / done, 1 verification failed, 2 nothing to check or a refusal.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from server.settings import Settings


def add_parsers(sub) -> dict:
    """Add the subcommands to ``sub`` (argparse subparsers); returns {name: handler}."""
    p = sub.add_parser("verify-recording", help="verify a lesson recording's signed hash chain and every segment "
                       "(REC-1); names the first altered or missing segment")
    p.add_argument("lesson_id", type=int)
    p.add_argument("--quick", action="store_true", help="sizes only, do not hash the media")
    p.add_argument("--public-key", help="verify with this Ed25519 public key (hex) instead of this instance's")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = sub.add_parser("backup", help="write a signed, hash-chained backup archive: database, recording manifests, "
                       "uploads (REC-3)")
    p.add_argument("--out", type=Path, default=None, help="folder for the archive (default DATA_DIR/backups)")
    p.add_argument("--pg-dump", action="store_true", help="PostgreSQL: add a pg_dump custom-format file as well")
    p = sub.add_parser("verify-backup", help="check a backup archive: every member, the signature and the link "
                       "to the previous backup (REC-3)")
    p.add_argument("archive", type=Path)
    p.add_argument("--public-key", help="verify with this Ed25519 public key (hex) instead of this instance's")
    p.add_argument("--previous-dir", type=Path, default=None, help="where the previous backup is (default: beside it)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-chain", action="store_true", help="do not check the link to the previous backup")
    g.add_argument("--whole-chain", action="store_true", help="verify every earlier backup of the chain too")
    p = sub.add_parser("restore", help="rebuild a working instance from a backup archive (REC-3)")
    p.add_argument("archive", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--database-url", default=None, help="target database (default: SQLite in the data dir); must be empty")
    p.add_argument("--secret-key-file", type=Path, default=None, help="the master key the backup was made with")
    p.add_argument("--signing-key-file", type=Path, default=None, help="the platform signing key, to keep signing with it")
    p.add_argument("--public-key", help="verify the archive with this Ed25519 public key (hex)")
    sub.add_parser("public-key", help="print the platform's Ed25519 public key (verifies recordings and backups)")
    return {"verify-recording": cmd_verify_recording, "backup": cmd_backup, "verify-backup": cmd_verify_backup,
            "restore": cmd_restore, "public-key": cmd_public_key}


def _err(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def cmd_public_key(settings: Settings, _args) -> int:
    from recorder.signing import load_platform_key
    key = load_platform_key(settings)
    print(f"{key.public.hex}\nkey id {key.public.id} (Ed25519)")
    return 0


def cmd_verify_recording(settings: Settings, args) -> int:
    from models import Recording
    from models.db import Database
    from recorder.registry import RecordingRegistry, UnknownLesson
    from recorder.storage import LocalStore, StorageError, open_store
    from server.policy.profiles import load_profiles
    from recorder.signing import trusted_public_key
    from recorder.verify import verify_recording
    trusted = trusted_public_key(settings, args.public_key)
    if trusted is None:
        return _err("没有平台签名密钥 / no platform signing key here: pass --public-key HEX")
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            rec = s.get(Recording, args.lesson_id)
            kind = rec.storage_kind if rec else "local"
        if rec is None and not (settings.recordings_root / str(args.lesson_id)).exists():
            return _err(f"课次 {args.lesson_id} 没有录像 / lesson {args.lesson_id} has no recording")
        if rec is not None and rec.status == "deleted":
            return _err(f"课次 {args.lesson_id} 的录像已于保存期满后删除 / deleted after its retention ran out "
                        f"({rec.deleted_at.isoformat()})")
        try:
            store = open_store(settings) if kind == "s3" else LocalStore(settings.recordings_root)
        except StorageError as exc:
            return _err(str(exc))
        registry = RecordingRegistry(db, load_profiles(settings.profiles_dir))
        if rec is None or rec.status != "deleted":
            try:  # a recorder without a database leaves the row to the app: bring it up to date
                with db.session() as s:
                    registry.sync_in(s, args.lesson_id, LocalStore(settings.recordings_root), trusted)
            except UnknownLesson:
                pass
        v = verify_recording(store, args.lesson_id, trusted, full=not args.quick,
                             expected=registry.expected(args.lesson_id))
        registry.record_verification(args.lesson_id, v.summary())
    finally:
        db.dispose()
    print(json.dumps(v.summary(), ensure_ascii=False, indent=2) if args.json else v.report())
    return 0 if v.ok else 1


def cmd_backup(settings: Settings, args) -> int:
    from recorder.backup import create_backup
    from recorder.signing import load_platform_key
    from recorder.storage import open_store
    remote = open_store(settings) if settings.recording_storage == "s3" else None
    result = create_backup(settings, args.out or settings.data_dir / "backups", key=load_platform_key(settings),
                           with_pg_dump=args.pg_dump, remote=remote)
    prev = result.previous
    print(f"备份已写入 / backup written: {result.path}\n"
          f"  #{result.sequence}, {result.members} members, "
          f"{'first of its chain' if prev is None else 'links to ' + prev['file'] + ' (#' + str(prev['sequence']) + ')'}\n"
          f"  manifest sha256 {result.manifest_sha256}\n"
          f"  请将此哈希报送人社部门 / report this hash to the HR bureau (REC-3)"
          + (f"\n  locked copy: {remote.location}backups/{result.path.name}" if remote else ""))
    return 0


def cmd_verify_backup(settings: Settings, args) -> int:
    from recorder.backup import verify_backup
    from recorder.signing import trusted_public_key
    trusted = trusted_public_key(settings, args.public_key)
    if trusted is None:
        return _err("没有平台签名密钥 / no platform signing key here: pass --public-key HEX")
    archive, ok = args.archive, True
    while True:
        check = verify_backup(archive, trusted, previous_dir=args.previous_dir, check_previous=not args.no_chain)
        print(check.report())
        ok = ok and check.ok
        link = (check.manifest or {}).get("previous")
        if not (args.whole_chain and check.ok and link):
            break
        archive = (args.previous_dir or archive.parent) / link["file"]
    return 0 if ok else 1


def cmd_restore(settings: Settings, args) -> int:
    from recorder.restore import RestoreError, restore
    from recorder.signing import KEY_FILE, PlatformKey, PublicKey, load_platform_key, read_seed
    if args.public_key:
        trusted = PublicKey.from_hex(args.public_key)
    elif args.signing_key_file:
        trusted = PlatformKey(read_seed(args.signing_key_file)).public
    elif (args.data_dir / KEY_FILE).exists():
        trusted = PlatformKey(read_seed(args.data_dir / KEY_FILE)).public
    else:
        key = load_platform_key(settings, create=False)
        if key is None:
            return _err("没有可信公钥 / no trusted key: pass --public-key HEX or --signing-key-file")
        trusted = key.public
    try:
        result = restore(args.archive, args.data_dir, trusted=trusted, database_url=args.database_url,
                         secret_key_file=args.secret_key_file, signing_key_file=args.signing_key_file)
    except RestoreError as exc:
        return _err(f"恢复被拒绝 / restore refused: {exc}")
    tables = "SQLite snapshot" if result.tables is None else f"{sum(result.tables.values())} rows"
    print(f"已恢复 / restored into {result.data_dir}: database ({tables}), {result.uploads} uploads, "
          f"{result.manifests} recording manifests")
    for note in result.notes:
        print(f"  · {note}")
    print(f"  next: QIHANG_DATA_DIR={result.data_dir} qihang serve")
    return 0
