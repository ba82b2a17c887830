"""Records findings in a loop and prints each acknowledged finding id (used by the crash test).

Usage: python ops/crash_writer.py DATABASE_URL YEAR   (runs until killed)
"""

from __future__ import annotations

import itertools
import sys

from api.service import KaoheApp
from domain.actors import Actor


def main() -> None:
    url, year = sys.argv[1], int(sys.argv[2])
    app = KaoheApp.from_url(url)
    office = Actor("办公室", "office")
    districts = app.year_info(year)["districts"]
    for i in itertools.count():
        district = districts[i % len(districts)]
        result = app.record_finding(office, year=year, district=district, clause="8.2.b",
                                    occurred_on="2018-05-01", note=f"loop {i}")
        # Printed only after save() returned: this id was acknowledged to the caller.
        print(result["id"], district, flush=True)


if __name__ == "__main__":
    main()
