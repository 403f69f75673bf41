package actioncode

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LinkTree gives dst (created if missing) the tree src, a directory that
// Place unpacked a zip into: directories are created, regular files are
// hard links to src's (no bytes are copied: src and dst must be on one
// file system), symbolic links are made again. Place checked every name,
// link and type when it unpacked src, and src is never changed afterwards,
// so sharing its files between containers (each sees its own /action,
// read-only) shares nothing writable. Directories and links are created
// through an os.Root on dst. It returns the bytes of the regular files
// linked.
func LinkTree(src, dst string) (int64, error) {
	if err := mkdir(dst); err != nil {
		return 0, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return 0, fmt.Errorf("open action directory: %w", err)
	}
	defer root.Close()
	var size int64
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		switch t := d.Type(); {
		case t.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := root.Mkdir(rel, info.Mode().Perm()); err != nil {
				return err
			}
			// Mkdir applies the umask; the container's user must be able to
			// read what the zip made readable.
			return root.Chmod(rel, info.Mode().Perm())
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
			// os.Root.Link wants both names inside the root. The name in
			// dst is safe to join: its parents were made just above, and
			// the tree has nothing below a symbolic link (Place refuses
			// entries inside one).
			return os.Link(path, filepath.Join(dst, rel))
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return root.Symlink(target, rel)
		default:
			return fmt.Errorf("%s: unexpected file type %v", rel, t)
		}
	})
	if err != nil {
		return size, fmt.Errorf("link the action's code into %s: %w", dst, err)
	}
	return size, nil
}
