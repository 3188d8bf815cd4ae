import subprocess
import sys


def test_engines_and_client_import_no_flask():
    code = (
        "import sys, app.storage.blobstore, app.metadata.file_catalogue, "
        "app.metadata.node_catalogue, app.metadata.hotindex, app.metadata.cluster, "
        "app.client.cli.root, app.client.api; "
        "assert 'flask' not in sys.modules, 'flask imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_app_package_init_stays_empty():
    import app

    assert app.__file__ is not None
    with open(app.__file__) as fh:
        assert fh.read().strip() == ""
