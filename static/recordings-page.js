// The recordings page: attach the player and timeline behaviour (static/recordings.js).
import { attachRecordings } from "/static/recordings.js";

attachRecordings(document.getElementById("recordings"));
