Feature: A ward stay from admission to discharge
  Margaret Ellis, 78, is admitted to Ward 7 with pneumonia. The nurse charts her
  observations every 4 hours, the doctor reviews her when she deteriorates, the
  receptionist books her follow-up clinic and an auditor checks who opened her record.

  Scenario: The nurse finds her new patient on the ward list
    Given Margaret Ellis has been admitted to Ward 7
    When nurse Adeyemi signs in with her password and authenticator app
    Then Margaret Ellis is on her ward list
    When she opens Margaret Ellis's record from the ward list
    Then the patient banner shows "ELLIS, Margaret", her date of birth and her hospital number

  Scenario: A mistake on the observations form is easy to put right
    Given nurse Adeyemi has Margaret Ellis's record open
    When she records the 08:00 observations "RR 16, SpO2 97 on air, BP 1280/76, pulse 78, alert, 36.9°C"
    Then the form is shown again with an error summary naming "Systolic blood pressure"
    And the other values she typed are kept
    When she follows the error to the field, corrects it to "128" and saves
    Then the observations are saved with "NEWS2 score 0: low clinical risk"
    And she is not prompted to escalate

  Scenario: Four-hourly observations show her deteriorating and prompt escalation
    Given nurse Adeyemi has Margaret Ellis's record open
    When she records the 12:00 observations "RR 20, SpO2 95 on air, BP 112/70, pulse 96, alert, 37.8°C"
    Then the observations are saved with "NEWS2 score 2: low clinical risk"
    And she is not prompted to escalate
    When she records the 16:00 observations "RR 22, SpO2 95 on air, BP 108/68, pulse 96, alert, 38.2°C"
    Then the observations are saved with "NEWS2 score 6: medium clinical risk"
    And she is prompted to escalate for an "urgent response"
    When she records the 20:00 observations "RR 24, SpO2 93 on oxygen at 2 L/min, BP 100/62, pulse 112, alert, 38.4°C"
    Then the observations are saved with "NEWS2 score 11: high clinical risk"
    And she is prompted to escalate for an "emergency response"
    And the vital signs page lists 4 sets of observations

  Scenario: The doctor reviews the deteriorating patient and writes a note
    Given doctor Okafor has signed in with her password and authenticator app
    When she opens Margaret Ellis's record from the ward list
    Then the summary warns "Emergency response needed: NEWS2 score 11: high clinical risk"
    When she writes a note titled "Medical review" saying "Sepsis screen positive. Blood cultures, IV antibiotics, fluids. Critical care outreach informed."
    Then the note "Medical review" is in the timeline

  Scenario: The receptionist books a follow-up appointment
    Given receptionist Patel has signed in with her password
    When she finds Margaret Ellis by her hospital number
    Then she sees Margaret Ellis's appointments, not her clinical record
    When she books "Respiratory clinic follow-up" 6 weeks from today at "10:30" but types the date as "31/02"
    Then the form is shown again with an error summary naming "Date"
    When she follows the error to the date, corrects it and books the appointment
    Then "Respiratory clinic follow-up" is listed as an upcoming appointment
    And the doctor sees it under upcoming appointments on the summary

  Scenario: The auditor reviews who opened the record
    Given auditor Lin has signed in with her password and authenticator app
    When she finds Margaret Ellis by name
    Then she sees who looked at the record, not the clinical record
    And the access log names "nurse.adeyemi", "dr.okafor" and "rec.patel"
    And no break-the-glass access needs review

  Scenario: Help is one step away
    Given nurse Adeyemi has Margaret Ellis's record open
    When she searches the help centre for "escalate"
    Then she finds the answer "What do I do when Wardbook says to escalate?"
    When she selects Help on the vital signs page
    Then the user manual opens at "Record vital signs"

  Scenario: Discharge takes her off the ward list
    Given Margaret Ellis is on nurse Adeyemi's ward list
    When nurse Adeyemi discharges her from her record
    Then she is told the patient was discharged
    And Margaret Ellis is no longer on nurse Adeyemi's ward list
