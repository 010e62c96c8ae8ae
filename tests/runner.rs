mod compose;
