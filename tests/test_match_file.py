"""``lac match-file``: the engine alone on CSV files, as an auditor would run it."""

import subprocess
import sys


def test_match_file_writes_the_assignment_and_reports_bad_rows(tmp_path):
    requests = tmp_path / "requests.csv"
    cabinets = tmp_path / "cabinets.csv"
    out = tmp_path / "out.csv"
    requests.write_text(
        "id,lat,lon,kind,priority,max_distance_km,people\n"
        "1,50.637,3.064,medecin_traitant,50,30,1\n"
        "2,50.640,3.060,medecin_traitant,0,30,3\n"
        "3,43.296,5.369,medecin_traitant,90,30,1\n"
    )
    cabinets.write_text("id,lat,lon,kind,radius_km,capacity\n10,50.6365,3.0635,medecin_traitant,10,2\n")
    run = subprocess.run(
        [sys.executable, "-m", "lac_service.cli", "match-file", str(requests), str(cabinets), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr
    assert out.read_text().splitlines()[0] == "request_id,cabinet_id,distance_km"
    assert [line.split(",")[:2] for line in out.read_text().splitlines()[1:]] == [["1", "10"]]
    assert "no_cabinet_in_range" in run.stdout and "all_in_range_full" in run.stdout

    requests.write_text("id,lat,lon,kind,priority,max_distance_km\n1,abc,3.0,medecin_traitant,1,30\n")
    out.unlink()
    bad = subprocess.run(
        [sys.executable, "-m", "lac_service.cli", "match-file", str(requests), str(cabinets), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 1
    assert "ligne 2" in bad.stderr and "lat" in bad.stderr
    assert not out.exists()
