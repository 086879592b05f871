-- A flights schema for the text-to-SQL accuracy set (tests/t2s/flights.json):
-- airlines, airports, aircraft, flights between airports, passengers and
-- bookings. Rows are generated deterministically (modular arithmetic, no
-- random()) so gold results never change.
PRAGMA foreign_keys = ON;

CREATE TABLE airlines (
    airline_id INTEGER PRIMARY KEY,
    airline_name TEXT NOT NULL,
    iata_code TEXT NOT NULL,
    country TEXT NOT NULL
);
INSERT INTO airlines VALUES
    (1, 'Lufthansa', 'LH', 'Germany'), (2, 'Air France', 'AF', 'France'),
    (3, 'British Airways', 'BA', 'United Kingdom'), (4, 'Iberia', 'IB', 'Spain'),
    (5, 'KLM', 'KL', 'Netherlands'), (6, 'Delta Air Lines', 'DL', 'United States');

CREATE TABLE airports (
    airport_id INTEGER PRIMARY KEY,
    airport_code TEXT NOT NULL,
    airport_name TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL
);
INSERT INTO airports VALUES
    (1, 'FRA', 'Frankfurt Airport', 'Frankfurt', 'Germany'),
    (2, 'MUC', 'Munich Airport', 'Munich', 'Germany'),
    (3, 'CDG', 'Charles de Gaulle', 'Paris', 'France'),
    (4, 'LHR', 'Heathrow', 'London', 'United Kingdom'),
    (5, 'MAD', 'Barajas', 'Madrid', 'Spain'),
    (6, 'AMS', 'Schiphol', 'Amsterdam', 'Netherlands'),
    (7, 'JFK', 'John F. Kennedy International', 'New York', 'United States'),
    (8, 'ATL', 'Hartsfield-Jackson', 'Atlanta', 'United States'),
    (9, 'BCN', 'El Prat', 'Barcelona', 'Spain'),
    (10, 'LIS', 'Humberto Delgado', 'Lisbon', 'Portugal');

CREATE TABLE aircraft (
    aircraft_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    manufacturer TEXT NOT NULL,
    seats INTEGER NOT NULL,
    airline_id INTEGER NOT NULL REFERENCES airlines(airline_id)
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
INSERT INTO aircraft
SELECT i,
       CASE i % 5 WHEN 0 THEN 'A320' WHEN 1 THEN 'A350' WHEN 2 THEN '737' WHEN 3 THEN '787'
                  ELSE 'E190' END,
       CASE i % 5 WHEN 0 THEN 'Airbus' WHEN 1 THEN 'Airbus' WHEN 2 THEN 'Boeing'
                  WHEN 3 THEN 'Boeing' ELSE 'Embraer' END,
       CASE i % 5 WHEN 0 THEN 180 WHEN 1 THEN 325 WHEN 2 THEN 189 WHEN 3 THEN 296 ELSE 100 END,
       1 + (i % 6)
FROM n;

CREATE TABLE flights (
    flight_id INTEGER PRIMARY KEY,
    flight_number TEXT NOT NULL,
    airline_id INTEGER NOT NULL REFERENCES airlines(airline_id),
    aircraft_id INTEGER NOT NULL REFERENCES aircraft(aircraft_id),
    origin_airport_id INTEGER NOT NULL REFERENCES airports(airport_id),
    destination_airport_id INTEGER NOT NULL REFERENCES airports(airport_id),
    departure_date DATE NOT NULL,
    distance_km INTEGER NOT NULL,
    duration_minutes INTEGER NOT NULL,
    status TEXT NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400),
-- Airlines fly unequal shares (6:5:4:3:2:1) so "the most flights" has one answer.
f(i, a) AS (SELECT i, CASE WHEN i % 21 < 6 THEN 1 WHEN i % 21 < 11 THEN 2 WHEN i % 21 < 15 THEN 3
                           WHEN i % 21 < 18 THEN 4 WHEN i % 21 < 20 THEN 5 ELSE 6 END FROM n)
INSERT INTO flights
SELECT i,
       (SELECT iata_code FROM airlines WHERE airline_id = a) || (100 + (i * 7) % 900),
       a,
       a + 6 * ((i / 6) % 5),
       1 + (i % 10),
       1 + ((i * 3 + 1 + (i / 10)) % 10),
       date('2022-01-01', '+' || ((i * 17) % 730) || ' days'),
       300 + ((i * 131) % 60) * 100,
       45 + ((i * 131) % 60) * 8,
       CASE WHEN i % 9 = 0 THEN 'cancelled' WHEN i % 4 = 0 THEN 'delayed' ELSE 'on time' END
FROM f;
UPDATE flights SET destination_airport_id = 1 + (destination_airport_id % 10)
WHERE destination_airport_id = origin_airport_id;

CREATE TABLE passengers (
    passenger_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    nationality TEXT NOT NULL,
    birth_date DATE NOT NULL,
    frequent_flyer INTEGER NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)
INSERT INTO passengers
SELECT i,
       CASE i % 10 WHEN 0 THEN 'Alice' WHEN 1 THEN 'Bruno' WHEN 2 THEN 'Chloe' WHEN 3 THEN 'Diego'
                   WHEN 4 THEN 'Emma' WHEN 5 THEN 'Felix' WHEN 6 THEN 'Giulia' WHEN 7 THEN 'Hana'
                   WHEN 8 THEN 'Ivan' ELSE 'Julia' END,
       CASE (i * 3) % 8 WHEN 0 THEN 'Martin' WHEN 1 THEN 'Lopez' WHEN 2 THEN 'Schmidt'
                        WHEN 3 THEN 'Jones' WHEN 4 THEN 'Moreau' WHEN 5 THEN 'Costa'
                        WHEN 6 THEN 'Sato' ELSE 'Ivanova' END,
       CASE i % 7 WHEN 0 THEN 'German' WHEN 1 THEN 'French' WHEN 2 THEN 'Spanish'
                  WHEN 3 THEN 'British' WHEN 4 THEN 'American' WHEN 5 THEN 'German'
                  ELSE 'Japanese' END,
       date('1950-01-01', '+' || ((i * 1103) % 20000) || ' days'),
       CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END
FROM n;

CREATE TABLE bookings (
    booking_id INTEGER PRIMARY KEY,
    passenger_id INTEGER NOT NULL REFERENCES passengers(passenger_id),
    flight_id INTEGER NOT NULL REFERENCES flights(flight_id),
    booking_date DATE NOT NULL,
    travel_class TEXT NOT NULL,
    price NUMERIC NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 900)
INSERT INTO bookings
SELECT i,
       1 + ((i * 7) % 220),
       1 + ((i * 37) % 400),
       date('2021-10-01', '+' || ((i * 19) % 800) || ' days'),
       CASE WHEN i % 10 = 0 THEN 'first' WHEN i % 10 < 3 THEN 'business' ELSE 'economy' END,
       80 + ((i * 61) % 97) * 10 + CASE WHEN i % 10 = 0 THEN 2000 WHEN i % 10 < 3 THEN 900 ELSE 0 END
FROM n;
